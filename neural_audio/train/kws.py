"""Train and evaluate the KeywordCNN on a Speech Commands v2 folder (ours or Google's)."""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..audio import SAMPLE_RATE, load
from ..models.kws import CLIP_SAMPLES, SILENCE, UNKNOWN, KeywordCNN
from ..hub import load_folder
from .common import CsvLog, cosine_lr, load_state, save_state, set_threads

log = logging.getLogger(__name__)

BACKGROUND_DIR = "_background_noise_"


def speech_commands_splits(root: Path) -> dict[str, list[tuple[Path, str]]]:
    """Speech Commands v2 layout -> {"train"|"valid"|"test": [(wav path, word)]} using its list files."""
    def listed(name: str) -> set[str]:
        path = root / name
        return set(path.read_text().split()) if path.exists() else set()

    valid, test = listed("validation_list.txt"), listed("testing_list.txt")
    splits: dict[str, list[tuple[Path, str]]] = {"train": [], "valid": [], "test": []}
    for wav in sorted(root.glob("*/*.wav")):
        word = wav.parent.name
        if word == BACKGROUND_DIR:
            continue
        rel = f"{word}/{wav.name}"
        splits["test" if rel in test else "valid" if rel in valid else "train"].append((wav, word))
    return splits


def read_clips(items: list[tuple[Path, str]]) -> np.ndarray:
    """Load 1-s clips into one int16 array (n, 16000): 40 000 clips fit in 1.3 GB."""
    out = np.zeros((len(items), CLIP_SAMPLES), np.int16)
    for i, (path, _) in enumerate(tqdm(items, desc="reading clips", unit="clip", leave=False)):
        x = load(path)[:CLIP_SAMPLES]
        out[i, : x.size] = np.round(x * 32767).astype(np.int16)
    return out


@dataclass
class KwsData:
    """One split in memory: clips, integer labels, and background noise for augmentation."""

    clips: np.ndarray
    targets: np.ndarray
    noises: list[np.ndarray]


class KeywordSet(Dataset):
    """Keyword clips plus generated `_silence_` (noise or nothing) and `_unknown_` (reversed or spliced
    words, speech that is no keyword) items, each about as frequent as one keyword."""

    def __init__(self, data: KwsData, labels: list[str], augment=None, extra_share: float | None = None,
                 seed: int = 0):
        self.data, self.labels, self.augment, self.seed = data, labels, augment, seed
        n = len(data.targets)
        share = extra_share if extra_share is not None else 1 / (len(labels) - 2)
        self.n_extra = int(round(n * share))
        self.silence, self.unknown = labels.index(SILENCE), labels.index(UNKNOWN)

    def __len__(self) -> int:
        return len(self.data.targets) + 2 * self.n_extra

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        n = len(self.data.targets)
        rng = np.random.default_rng((self.seed, getattr(self.augment, "epoch", 0), index))
        if index < n:
            audio, target = self.data.clips[index] / 32768.0, int(self.data.targets[index])
        elif index < n + self.n_extra:
            audio, target = self._silence(rng), self.silence
        else:
            audio, target = self._unknown(rng), self.unknown
        audio = audio.astype(np.float32)
        if self.augment is not None and target != self.silence:
            audio = self.augment(audio, index)
        return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), target

    def _silence(self, rng: np.random.Generator) -> np.ndarray:
        if not self.data.noises or rng.random() < 0.2:
            return np.zeros(CLIP_SAMPLES) if rng.random() < 0.5 else rng.normal(0, 10 ** rng.uniform(-5, -2.5), CLIP_SAMPLES)
        noise = self.data.noises[rng.integers(len(self.data.noises))]
        start = rng.integers(0, max(1, noise.size - CLIP_SAMPLES))
        clip = noise[start: start + CLIP_SAMPLES]
        return np.pad(clip, (0, CLIP_SAMPLES - clip.size)) * 10 ** rng.uniform(-2.5, 0)

    def _unknown(self, rng: np.random.Generator) -> np.ndarray:
        a, b = (self.data.clips[rng.integers(len(self.data.targets))] / 32768.0 for _ in range(2))
        if rng.random() < 0.5:
            return a[::-1]  # reversed speech has a word's spectra but no word
        cut = rng.integers(CLIP_SAMPLES // 3, 2 * CLIP_SAMPLES // 3)
        return np.concatenate([a[:cut], b[cut:]])  # the start of one word and the end of another


def spec_augment(mel: torch.Tensor, generator: torch.Generator, freq: int = 7, time: int = 12, masks: int = 2):
    """SpecAugment: zero ``masks`` random bands and frame spans per item (in place on a copy)."""
    mel = mel.clone()
    batch, n_mels, frames = mel.shape
    floor = mel.amin(dim=(1, 2), keepdim=True)
    for size, width, axis in ((n_mels, freq, 1), (frames, time, 2)):
        for _ in range(masks):
            w = torch.randint(0, width + 1, (batch, 1, 1), generator=generator)
            start = (torch.rand(batch, 1, 1, generator=generator) * (size - w)).long()
            idx = torch.arange(size).view(*((1, -1, 1) if axis == 1 else (1, 1, -1)))
            mel = torch.where((idx >= start) & (idx < start + w), floor, mel)
    return mel


def _load_data(root: Path, labels: list[str]) -> dict[str, KwsData]:
    splits = speech_commands_splits(root)
    noises = [load(p) for p in sorted((root / BACKGROUND_DIR).glob("*.wav"))]
    index = {w: i for i, w in enumerate(labels)}
    out = {}
    for split, items in splits.items():
        targets = np.array([index.get(w, index[UNKNOWN]) for _, w in items], np.int64)
        out[split] = KwsData(read_clips(items), targets, noises)
        log.info("%s: %d clips", split, len(items))
    return out


@torch.no_grad()
def predict(model: KeywordCNN, clips: np.ndarray, batch: int = 256) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(clips), batch):
        out.append(model(torch.from_numpy(clips[i: i + batch] / 32768.0).float()).softmax(-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(model.labels)))


def train(args: argparse.Namespace) -> int:
    from ..data.augment import Augment
    from ..data.speech import WORDS

    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    root, work, out = Path(args.data), Path(args.work), Path(args.out)
    labels = list(WORDS) + [SILENCE, UNKNOWN]
    data = _load_data(root, labels)
    model = KeywordCNN(labels=labels, channels=tuple(args.channels), kernel=args.kernel)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("KeywordCNN: %d parameters, %d threads", n_params, threads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    meta = load_state(work, {"model": model}, optimizer) or {"epoch": 0, "step": 0, "best": -1.0, "wall": 0.0}
    if meta["epoch"]:
        log.warning("Resuming from epoch %d (best validation accuracy %.4f)", meta["epoch"], meta["best"])
    augment = Augment(seed=args.seed, noises=data["train"].noises)
    train_set = KeywordSet(data["train"], labels, augment, seed=args.seed)
    loader_gen = torch.Generator()
    steps_per_epoch = len(train_set) // args.batch
    total = steps_per_epoch * args.epochs
    csv = CsvLog(work / "log.csv")
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(meta["epoch"], args.epochs):
        started = time.time()
        augment.epoch = epoch
        loader_gen.manual_seed(args.seed * 1000 + epoch)
        loader = DataLoader(train_set, batch_size=args.batch, shuffle=True, drop_last=True, generator=loader_gen,
                            num_workers=args.workers, persistent_workers=False)
        model.train()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch")
        correct = seen = 0
        loss_sum = 0.0
        for audio, target in bar:
            lr = cosine_lr(meta["step"], total, args.lr, warmup=steps_per_epoch // 2)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.no_grad():
                mel = spec_augment(model.front(audio), generator)
            logits = model.forward_mel(mel)
            loss = F.cross_entropy(logits, target, label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            meta["step"] += 1
            correct += int((logits.argmax(-1) == target).sum())
            seen += len(target)
            loss_sum += float(loss) * len(target)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", lr=f"{lr:.2e}")
        valid = data["valid"]
        accuracy = float((predict(model, valid.clips).argmax(-1) == valid.targets).mean()) if len(valid.targets) else 0
        meta["wall"] += time.time() - started
        meta["epoch"] = epoch + 1
        csv.write(epoch=epoch + 1, step=meta["step"], train_loss=round(loss_sum / seen, 4),
                  train_acc=round(correct / seen, 4), valid_acc=round(accuracy, 4), lr=lr)
        log.warning("epoch %d: train loss %.3f acc %.3f, validation accuracy %.4f (%.0f s)",
                    epoch + 1, loss_sum / seen, correct / seen, accuracy, time.time() - started)
        if accuracy > meta["best"]:
            meta["best"] = accuracy
            model.save_pretrained(work / "best")
        save_state(work, {"model": model}, optimizer, meta)
    load_folder(KeywordCNN, work / "best").save_pretrained(out)
    (out / "training.json").write_text(json.dumps({
        "parameters": n_params, "epochs": meta["epoch"], "best_valid_accuracy": meta["best"],
        "train_wall_s": round(meta["wall"]), "threads": threads, "args": vars(args) | {"func": None}}, indent=1))
    log.warning("Saved the best model (validation accuracy %.4f) to %s", meta["best"], out)
    return 0



def _latency_ms(model: KeywordCNN, repeats: int = 200) -> float:
    """Median wall time of one 1-s clip, front end included, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x = torch.randn(1, CLIP_SAMPLES) * 0.1
    times = []
    with torch.no_grad():
        for i in range(repeats + 10):
            start = time.perf_counter()
            model(x)
            if i >= 10:
                times.append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    return float(np.median(times) * 1e3)


def _pocketsphinx(clips: np.ndarray, words: list[str]) -> tuple[list[str], float]:
    """Each clip decoded by pocketsphinx with a JSGF grammar of exactly one vocabulary word."""
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    decoder.add_jsgf_string("keywords", f"#JSGF V1.0; grammar keywords; public <word> = {' | '.join(words)} ;")
    decoder.activate_search("keywords")
    out, start = [], time.perf_counter()
    for clip in tqdm(clips, desc="pocketsphinx", unit="clip", leave=False):
        decoder.start_utt()
        decoder.process_raw(clip.tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        out.append(hyp.hypstr.strip() if hyp and hyp.hypstr else "")
    return out, (time.perf_counter() - start) / (len(clips) * CLIP_SAMPLES / SAMPLE_RATE)


def evaluate(args: argparse.Namespace) -> int:
    """Accuracy on the held-out-person test split, per class, confusion matrix, latency, and peers."""
    from PIL import Image

    from ..hub import load_model
    from ..plot import confusion_image

    set_threads(None)
    folder = Path(args.model)
    model = load_folder(KeywordCNN, folder) if folder.is_dir() else load_model(args.model)
    labels = model.labels
    items = speech_commands_splits(Path(args.data))["test"][: args.limit]
    index = {w: i for i, w in enumerate(labels)}
    clips = read_clips(items)
    targets = np.array([index.get(w, index[UNKNOWN]) for _, w in items])
    started = time.perf_counter()
    probs = predict(model, clips)
    seconds = time.perf_counter() - started
    predicted = probs.argmax(-1)
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    per_class = {labels[i]: round(float(confusion[i, i] / confusion[i].sum()), 4)
                 for i in range(len(labels)) if confusion[i].sum()}
    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    present = [i for i in range(len(labels)) if confusion[i].sum() or confusion[:, i].sum()]
    Image.fromarray(confusion_image(confusion[np.ix_(present, present)], [labels[i] for i in present])).save(
        report / "confusion.png")
    results = {
        "model": args.model, "test_clips": len(items),
        "test_speakers": len({p.name.split("_nohash_")[0] for p, _ in items}),
        "accuracy": round(float((predicted == targets).mean()), 4),
        "per_class_accuracy": per_class,
        "parameters": sum(p.numel() for p in model.parameters()),
        "latency_ms_per_1s_clip_1_thread": round(_latency_ms(model), 3),
        "real_time_factor_batched": round(seconds / (len(items) * CLIP_SAMPLES / SAMPLE_RATE), 5),
        "confusion_png": str(report / "confusion.png"),
        "confusion_matrix": {"labels": [labels[i] for i in present], "counts": confusion[np.ix_(present, present)].tolist()},
    }
    if "pocketsphinx" in (args.peers or []):
        words = [w for w in labels if w not in (SILENCE, UNKNOWN)]
        heard, rtf = _pocketsphinx(clips, words)
        results["peers"] = {"pocketsphinx": {
            "accuracy": round(float(np.mean([h == w for h, (_, w) in zip(heard, items)])), 4),
            "real_time_factor": round(rtf, 5), "setup": "pocketsphinx 5 default en-us model, JSGF grammar of the 35 words"}}
    (report / "results.json").write_text(json.dumps(results, indent=1))
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"accuracy {results['accuracy']:.4f} on {len(items)} test clips "
              f"({results['test_speakers']} speakers), latency {results['latency_ms_per_1s_clip_1_thread']:.2f} ms")
        for name, peer in results.get("peers", {}).items():
            print(f"{name}: accuracy {peer['accuracy']:.4f}, real-time factor {peer['real_time_factor']:.4f}")
    return 0

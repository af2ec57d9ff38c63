"""Train and evaluate the KeywordCNN on a Speech Commands v2 folder (ours or Google's)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..audio import MEL_SPECS, SAMPLE_RATE
from ..hub import load_folder
from ..models.kws import CLIP_SAMPLES, SILENCE, UNKNOWN, KeywordCNN
from .common import (REAL_DIGITS_WHAT, CsvLog, WeightAverage, cosine_lr, draw_persons, latency_ms, load_state,
                     person_labels, pocketsphinx_decode, report, reserved_digits, save_state, set_threads,
                     speaker_persons, wanted_peers)

log = logging.getLogger(__name__)


class KeywordSet(Dataset):
    """Keyword clips plus generated `_silence_` (noise or nothing) and `_unknown_` (reversed or spliced
    words: speech that is no keyword) items, each about as frequent as one keyword.

    ``base`` is a :class:`~neural_audio.data.datasets.SpeechCommands` split without augmentation;
    ``augment`` (an :class:`~neural_audio.data.augment.Augment`) applies to speech items.
    """

    def __init__(self, base, labels: list[str], augment=None, noises: list[np.ndarray] = (), seed: int = 0):
        self.base, self.labels, self.augment, self.noises, self.seed = base, labels, augment, list(noises), seed
        self.targets = [labels.index(base.words[i]) for i in base.labels]
        self.n_extra = int(round(len(base) / (len(labels) - 2)))
        self.silence, self.unknown = labels.index(SILENCE), labels.index(UNKNOWN)

    def __len__(self) -> int:
        return len(self.base) + 2 * self.n_extra

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        n = len(self.base)
        rng = np.random.default_rng((self.seed, getattr(self.augment, "epoch", 0), index))
        if index < n:
            audio, target = self.base[index][0].numpy(), self.targets[index]
        elif index < n + self.n_extra:
            audio, target = self._silence(rng), self.silence
        else:
            audio, target = self._unknown(rng), self.unknown
        if self.augment is not None and target != self.silence:
            audio = self.augment(audio, index)
        return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), target

    def _silence(self, rng: np.random.Generator) -> np.ndarray:
        if not self.noises or rng.random() < 0.2:
            return np.zeros(CLIP_SAMPLES) if rng.random() < 0.5 else rng.normal(0, 10 ** rng.uniform(-5, -2.5), CLIP_SAMPLES)
        noise = self.noises[rng.integers(len(self.noises))]
        start = rng.integers(0, max(1, noise.size - CLIP_SAMPLES))
        clip = noise[start: start + CLIP_SAMPLES]
        return np.pad(clip, (0, CLIP_SAMPLES - clip.size)) * 10 ** rng.uniform(-2.5, 0)

    def _unknown(self, rng: np.random.Generator) -> np.ndarray:
        a, b = (self.base[int(rng.integers(len(self.base)))][0].numpy() for _ in range(2))
        if rng.random() < 0.5:
            return a[::-1]  # reversed speech has a word's spectra but no word
        cut = rng.integers(CLIP_SAMPLES // 3, 2 * CLIP_SAMPLES // 3)
        return np.concatenate([a[:cut], b[cut:]])  # the start of one word and the end of another


DB = math.log(10) / 10  # one decibel of power in natural-log units


def _resample(mel: torch.Tensor, position: torch.Tensor, axis: int) -> torch.Tensor:
    """Read ``mel`` (batch, n_mels, frames) at fractional ``position`` (batch, n) along ``axis`` (1 or 2)
    by linear interpolation; positions are clamped to the axis."""
    size = mel.shape[axis]
    position = position.clamp(0, size - 1)
    lo = position.floor().long()
    hi = (lo + 1).clamp(max=size - 1)
    shape = (len(mel), -1, 1) if axis == 1 else (len(mel), 1, -1)
    weight = (position - lo).view(shape)
    expand = list(mel.shape)
    expand[axis] = position.shape[1]
    return (mel.gather(axis, lo.view(shape).expand(expand)) * (1 - weight)
            + mel.gather(axis, hi.view(shape).expand(expand)) * weight)


def warp_frequency(mel: torch.Tensor, generator: torch.Generator, low: float = 0.85, high: float = 1.15):
    """Vocal tract length perturbation on log-mel (batch, n_mels, frames): stretch or squeeze the
    frequency axis by a random factor per item, so one voice stands in for longer and shorter ones."""
    batch, n_mels, _ = mel.shape
    alpha = low + (high - low) * torch.rand(batch, 1, generator=generator)
    return _resample(mel, torch.arange(n_mels).float()[None] * alpha, axis=1)


def stretch_time(mel: torch.Tensor, generator: torch.Generator, amount: float = 0.2):
    """Speaking-rate perturbation on log-mel (batch, n_mels, frames): play each item between
    1/(1+``amount``) and 1+``amount`` times as fast about the clip's middle, pitch and formants kept
    (``Augment``'s speed change moves them together); frames from outside the clip are its floor."""
    batch, _, frames = mel.shape
    rate = (1 + amount) ** (torch.rand(batch, 1, generator=generator) * 2 - 1)
    middle = (frames - 1) / 2
    position = middle + (torch.arange(frames).float()[None] - middle) * rate
    out = _resample(mel, position, axis=2)
    outside = ((position < 0) | (position > frames - 1)).unsqueeze(1)
    return torch.where(outside, mel.amin(dim=(1, 2), keepdim=True), out)


def random_eq(mel: torch.Tensor, generator: torch.Generator, db: float = 6.0, floor: float = 1e-5):
    """A smooth random filter over the mel bands (a tilt of up to +-``db``/3 dB at the edges plus two
    cosine ripples of up to +-2/3 ``db`` each, so +-5/3 ``db`` in all): a different voice, vocoder,
    soundfont, microphone or room colours the same sound differently."""
    batch, n_mels, _ = mel.shape
    x = torch.linspace(0, 1, n_mels)
    basis = torch.stack([x - 0.5, torch.cos(math.pi * x), torch.cos(2 * math.pi * x)])  # (3, n_mels)
    weights = torch.rand(batch, 3, generator=generator) * 2 - 1
    curve = weights @ basis * (db / 1.5)
    return (mel + curve.unsqueeze(-1) * DB).clamp_min(math.log(floor))


def spec_augment(mel: torch.Tensor, generator: torch.Generator, freq_width: int = 7, time_width: int = 12,
                 masks: int = 2):
    """SpecAugment with masks drawn per item of a batch, filled with each item's floor; returns a copy.

    ``neural_audio.data.augment.spec_augment`` masks one spectrogram (or a whole batch alike)."""
    mel = mel.clone()
    batch, n_mels, frames = mel.shape
    floor = mel.amin(dim=(1, 2), keepdim=True)
    for size, width, axis in ((n_mels, freq_width, 1), (frames, time_width, 2)):
        for _ in range(masks):
            w = torch.randint(0, width + 1, (batch, 1, 1), generator=generator)
            start = (torch.rand(batch, 1, 1, generator=generator) * (size - w)).long()
            idx = torch.arange(size).view(*((1, -1, 1) if axis == 1 else (1, 1, -1)))
            mel = torch.where((idx >= start) & (idx < start + w), floor, mel)
    return mel


@torch.no_grad()
def predict(model: KeywordCNN, dataset, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Softmax outputs and targets over a dataset of (audio, target) items."""
    model.eval()
    probs, targets = [], []
    for audio, target in DataLoader(dataset, batch_size=batch):
        probs.append(model(audio).softmax(-1).numpy())
        targets.append(np.asarray(target))
    return np.concatenate(probs), np.concatenate(targets)


def train(args: argparse.Namespace) -> int:
    from ..data.augment import Augment
    from ..data.datasets import SpeechCommands

    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    work, out = Path(args.work), Path(args.out)
    train_words = SpeechCommands(args.data, args.train_splits)
    if args.persons:
        keep_persons(train_words, args.persons, args.seed)
    labels = list(train_words.words) + [SILENCE, UNKNOWN]
    noises = train_words.background_noise()
    # Trained on the validation persons too (a final run), there is nothing left to pick an epoch with:
    # the last weights (or their average) are shipped.
    select = "valid" not in args.train_splits
    valid = KeywordSet(SpeechCommands(args.data, "valid"), labels)
    log.warning("Training on %d clips of %s (%d words), %s on %d; %d noise recordings", len(train_words),
                "+".join(args.train_splits), len(train_words.words),
                "picking the best epoch" if select else "shipping the last epoch, watching", len(valid.base),
                len(noises))
    front = asdict(replace(MEL_SPECS["kws"], n_mels=args.n_mels)) if args.n_mels else None
    model = KeywordCNN(labels=labels, channels=tuple(args.channels), kernel=args.kernel, mel=front)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("KeywordCNN: %d parameters, %d threads", n_params, threads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    # With --ema, an exponential moving average of the weights is what is validated and shipped.
    average = WeightAverage(model, args.ema)
    shipped = average.shipped
    meta = load_state(work, average.modules, optimizer) or {"epoch": 0, "step": 0, "best": -1.0, "wall": 0.0}
    if meta["epoch"]:
        log.warning("Resuming from epoch %d (best validation accuracy %.4f)", meta["epoch"], meta["best"])
    # Reverb costs ~8 ms a clip (a fresh simulated room each time), the rest of the chain ~1 ms.
    augment = Augment(seed=args.seed, noises=noises, p_reverb=args.p_reverb)
    train_set = KeywordSet(train_words, labels, augment, noises, seed=args.seed)
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
                mel = model.front(audio)
                # Other voices and engines colour and pace the same word differently. With both at 0 no
                # random number is drawn, so earlier recipes replay exactly.
                if args.eq_db:
                    mel = random_eq(mel, generator, args.eq_db, model.mel_spec.log_floor)
                if args.stretch:
                    mel = stretch_time(mel, generator, args.stretch)
                mel = spec_augment(warp_frequency(mel, generator), generator)
            logits = model.forward_mel(mel)
            loss = F.cross_entropy(logits, target, label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            meta["step"] += 1
            average.update(meta["step"])
            correct += int((logits.argmax(-1) == target).sum())
            seen += len(target)
            loss_sum += loss.item() * len(target)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", lr=f"{lr:.2e}")
        probs, targets = predict(shipped, valid)
        accuracy = float((probs.argmax(-1) == targets).mean()) if len(targets) else 0.0
        meta["wall"] += time.time() - started
        meta["epoch"] = epoch + 1
        csv.write(epoch=epoch + 1, step=meta["step"], train_loss=round(loss_sum / seen, 4),
                  train_acc=round(correct / seen, 4), valid_acc=round(accuracy, 4), lr=lr)
        log.warning("epoch %d: train loss %.3f acc %.3f, validation accuracy %.4f (%.0f s)",
                    epoch + 1, loss_sum / seen, correct / seen, accuracy, time.time() - started)
        if select and accuracy > meta["best"]:
            meta["best"] = accuracy
            shipped.save_pretrained(work / "best")
        save_state(work, average.modules, optimizer, meta)
    if select:
        load_folder(KeywordCNN, work / "best").save_pretrained(out)
        log.warning("Saved the best model (validation accuracy %.4f) to %s", meta["best"], out)
    else:
        shipped.eval().save_pretrained(out)
        log.warning("Saved the model of the last epoch to %s", out)
    (out / "training.json").write_text(json.dumps({
        "parameters": n_params, "epochs": meta["epoch"], "best_valid_accuracy": meta["best"] if select else None,
        "train_wall_s": round(meta["wall"]), "threads": threads, "args": vars(args) | {"func": None}}, indent=1))
    return 0


def keep_persons(words, n: int, seed: int) -> list[str]:
    """Keep the clips of ``n`` of the persons in ``words`` (a SpeechCommands), drawn with ``seed``."""
    person_of = speaker_persons(words.root)
    clip_person = [person_of[words.speaker(i)] for i in range(len(words))]
    chosen = draw_persons(clip_person, n, seed)
    keep = [i for i, person in enumerate(clip_person) if person in chosen]
    words.files, words.labels = [words.files[i] for i in keep], [words.labels[i] for i in keep]
    log.warning("Training on %d of %d persons: %s", n, len(set(clip_person)), " ".join(chosen))
    return chosen


def real_digits(model: KeywordCNN, peer_rule: str | None = None) -> dict:
    """Each of the reserved real digit recordings recognised on its own (and by pocketsphinx under
    ``peer_rule`` when given): reported, never used to train or tune."""
    from ..inference import recognize

    digits = reserved_digits()
    if not digits:
        return {"what": REAL_DIGITS_WHAT, "found": False}
    heard = [recognize(audio, orig_sr=SAMPLE_RATE, model=model).top[0][0] for _, audio in digits]
    out = {"what": REAL_DIGITS_WHAT, "found": True, "clips": len(digits),
           "accuracy": round(float(np.mean([h == w for h, (w, _) in zip(heard, digits)])), 4),
           "heard": {w: h for h, (w, _) in zip(heard, digits)}}
    if peer_rule:
        peer, _ = pocketsphinx_decode((audio for _, audio in digits), peer_rule)
        out["pocketsphinx"] = {"accuracy": round(float(np.mean([h == w for h, (w, _) in zip(peer, digits)])), 4),
                               "heard": {w: h for h, (w, _) in zip(peer, digits)}}
    return out


def evaluate(args: argparse.Namespace) -> int:
    """Accuracy on the held-out-person test split, per class, confusion matrix, latency, and peers."""
    from PIL import Image

    from ..data.datasets import SpeechCommands
    from ..hub import load_model_or_folder
    from ..plot import confusion_image

    set_threads(None)
    model = load_model_or_folder(args.model, KeywordCNN)
    labels = model.labels
    test = SpeechCommands(args.data, args.split, words=[w for w in labels if w not in (SILENCE, UNKNOWN)])
    if args.limit:
        test.files, test.labels = test.files[: args.limit], test.labels[: args.limit]
    test_set = KeywordSet(test, labels)
    test_set.n_extra = 0  # the 35 words only: the task the accuracy target is set for
    started = time.perf_counter()
    probs, targets = predict(model, test_set)
    seconds = time.perf_counter() - started
    predicted = probs.argmax(-1)
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    per_class = {labels[i]: round(float(confusion[i, i] / confusion[i].sum()), 4)
                 for i in range(len(labels)) if confusion[i].sum()}
    out = Path(args.report)
    out.mkdir(parents=True, exist_ok=True)
    present = [i for i in range(len(labels)) if confusion[i].sum() or confusion[:, i].sum()]
    Image.fromarray(confusion_image(confusion[np.ix_(present, present)], [labels[i] for i in present])).save(
        out / "confusion.png")
    results = {
        "model": args.model, "split": args.split, "test_clips": len(test),
        "test_speakers": len({test.speaker(i) for i in range(len(test))}),
        "accuracy": round(float((predicted == targets).mean()), 4),
        "per_class_accuracy": per_class,
        "parameters": sum(p.numel() for p in model.parameters()),
        "latency_ms_per_1s_clip_1_thread": round(latency_ms(model, CLIP_SAMPLES, repeats=200), 3),
        "real_time_factor_batched_with_file_reading": round(seconds / (len(test) * CLIP_SAMPLES / SAMPLE_RATE), 5),
        "confusion_png": str(out / "confusion.png"),
        "confusion_matrix": {"labels": [labels[i] for i in present], "counts": confusion[np.ix_(present, present)].tolist()},
    }
    persons = person_labels(Path(args.data))
    if persons:  # our builds record who each speaker is; Google's release does not
        by_person: dict[str, list[bool]] = {}
        for i in range(len(test)):
            by_person.setdefault(persons.get(test.speaker(i), "?"), []).append(bool(predicted[i] == targets[i]))
        results["per_person_accuracy"] = {p: round(float(np.mean(v)), 4) for p, v in sorted(by_person.items())}
    words = [w for w in labels if w not in (SILENCE, UNKNOWN)]
    peers = "pocketsphinx" in wanted_peers(args.peers)
    if peers:
        heard, rtf = pocketsphinx_decode((test[i][0].numpy() for i in range(len(test))), " | ".join(words))
        results["peers"] = {"pocketsphinx": {
            "accuracy": round(float(np.mean([h == labels[t] for h, t in zip(heard, targets)])), 4),
            "real_time_factor": round(rtf, 5), "setup": "pocketsphinx 5 default en-us model, JSGF grammar of the 35 words"}}
    results["real_digits"] = real_digits(model, " | ".join(words) if peers else None)
    lines = [f"accuracy {results['accuracy']:.4f} on {len(test)} {args.split} clips "
             f"({results['test_speakers']} speakers), "
             f"latency {results['latency_ms_per_1s_clip_1_thread']:.2f} ms"]
    if results["real_digits"]["found"]:
        lines.append(f"real recorded digits: accuracy {results['real_digits']['accuracy']:.2f} "
                     f"of {results['real_digits']['clips']}")
    lines += [f"{name}: accuracy {peer['accuracy']:.4f}, real-time factor {peer['real_time_factor']:.4f}"
              for name, peer in results.get("peers", {}).items()]
    report(results, out, args.json, lines)
    return 0

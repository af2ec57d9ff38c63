"""Train and evaluate the SoundTagger on a tagging folder (our build, with event annotations).

The log-mel of every clip is computed once and cached (float16 safetensors under ``runs/``): training
then costs only the network, which is what makes a CNN tagger fit one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..audio import SAMPLE_RATE
from ..hub import load_model_or_folder
from ..models.tagger import SoundTagger, linear_softmax_pool
from .common import (ASTERISK_PROMPTS, CsvLog, WeightAverage, cosine_lr, latency_ms, load_state, report, save_state,
                     set_threads)
from .kws import DB, random_eq, spec_augment, warp_frequency

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- features, cached once per split
def cached_features(data: str | Path, split: str, cache: str | Path) -> dict:
    """{"mel": (clips, n_mels, frames) float16, "clip": (clips, labels) multi-hot, "frames": (clips,
    labels, frames) uint8 event activity, "fnames", "labels", "events"} for one split, computed once."""
    from safetensors.torch import load_file, save_file

    from ..audio import MEL_SPECS
    from ..data.datasets import SoundTagging
    from ..features import LogMel

    dataset = SoundTagging(data, split)
    cache = Path(cache)
    path, meta_path = cache / f"{split}.safetensors", cache / f"{split}.json"
    spec = MEL_SPECS["tagger"]
    fps = spec.frames_per_second
    if not path.is_file() or json.loads(meta_path.read_text())["fnames"] != dataset.fnames:
        front = LogMel(spec)
        mels = []
        loader = torch.utils.data.DataLoader(dataset, batch_size=64)
        with torch.no_grad():
            for audio, _ in tqdm(loader, desc=f"log-mel {split}", unit="batch"):
                mels.append(front(audio).half())
        mel = torch.cat(mels)
        clip = torch.stack([_multi_hot(t, len(dataset.labels)) for t in dataset.targets])
        frames = torch.zeros(len(dataset), len(dataset.labels), mel.shape[-1], dtype=torch.uint8)
        row = {f: i for i, f in enumerate(dataset.fnames)}
        centres = torch.arange(mel.shape[-1]) / fps
        for e in dataset.events:
            active = (centres >= float(e["onset"])) & (centres < float(e["offset"]))
            frames[row[e["fname"]], dataset.labels.index(e["label"]), active] = 1
        cache.mkdir(parents=True, exist_ok=True)
        save_file({"mel": mel.contiguous(), "clip": clip, "frames": frames}, path)
        meta_path.write_text(json.dumps({"fnames": dataset.fnames}))
    tensors = load_file(path)
    return {**tensors, "fnames": dataset.fnames, "labels": list(dataset.labels), "events": dataset.events}


def _multi_hot(indices: list[int], n: int) -> torch.Tensor:
    out = torch.zeros(n)
    out[indices] = 1.0
    return out


# ---------------------------------------------------------------- augmentation on log-mel batches
def crop(mel: torch.Tensor, frames: torch.Tensor, length: int, generator: torch.Generator):
    """The same random window of ``length`` frames from each item's log-mel and event activity."""
    total = mel.shape[-1]
    if total <= length:
        return mel, frames
    start = torch.randint(0, total - length + 1, (len(mel), 1), generator=generator)
    idx = (start + torch.arange(length))[:, None, :]
    return (mel.gather(2, idx.expand(-1, mel.shape[1], -1)), frames.gather(2, idx.expand(-1, frames.shape[1], -1)))


def mix_sources(mel: torch.Tensor, frames: torch.Tensor, generator: torch.Generator, p: float = 0.5,
                db: float = 6.0):
    """Mixup for sound events: add a partner clip's power (``logaddexp`` of log-mels) at +-``db`` dB
    to a share ``p`` of the batch; the events of both are present, so the targets are their union
    (a convex mix of targets would claim a sound is half there)."""
    partner = torch.randperm(len(mel), generator=generator)
    chosen = (torch.rand(len(mel), generator=generator) < p).view(-1, 1, 1)
    gain = ((torch.rand(len(mel), 1, 1, generator=generator) * 2 - 1) * db * DB)
    mixed = torch.logaddexp(mel, mel[partner] + gain)
    return torch.where(chosen, mixed, mel), torch.where(chosen, torch.maximum(frames, frames[partner]), frames)


def random_gain(mel: torch.Tensor, generator: torch.Generator, db: float = 10.0, floor: float = 1e-5):
    """Whole-clip level change of +-``db`` dB, kept above the front end's log floor."""
    gain = (torch.rand(len(mel), 1, 1, generator=generator) * 2 - 1) * db * DB
    return (mel + gain).clamp_min(math.log(floor))


def frame_targets(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """Event activity at the front end's rate -> share of each output frame that is active."""
    return F.avg_pool1d(frames.float(), stride, ceil_mode=True)


def balanced_weights(clip: torch.Tensor) -> torch.Tensor:
    """Sampling weight per clip: that of its rarest label, so every class is drawn about equally often."""
    per_class = 1.0 / clip.sum(0).clamp_min(1)
    return (clip * per_class).amax(1).clamp_min(per_class.min())


# ---------------------------------------------------------------- metrics
def mean_average_precision(truth: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro mAP and per-class AP over classes with at least one positive."""
    from sklearn.metrics import average_precision_score

    ap = np.array([average_precision_score(truth[:, c], scores[:, c]) if truth[:, c].any() else np.nan
                   for c in range(truth.shape[1])])
    return float(np.nanmean(ap)), ap


def event_f1(reference: list[tuple[str, float, float]], estimated: list[tuple[str, float, float]],
             collar: float = 0.2, offset_share: float = 0.2, offsets: bool = True) -> dict:
    """Event-based precision, recall and F1 (micro over classes), as sed_eval scores them.

    Items are (label, onset, offset) of one clip (or with the label keyed by clip). A match has the same
    label, an onset within ``collar`` and, if ``offsets``, an offset within max(collar, ``offset_share``
    of the reference length). Each event matches at most once, and the matching is maximal.
    """
    from scipy.optimize import linear_sum_assignment

    tp = 0
    for label in {r[0] for r in reference} & {e[0] for e in estimated}:
        ref = [r for r in reference if r[0] == label]
        est = [e for e in estimated if e[0] == label]
        ok = np.array([[abs(e[1] - r[1]) <= collar and (not offsets or abs(e[2] - r[2]) <= max(
            collar, offset_share * (r[2] - r[1]))) for e in est] for r in ref])
        rows, cols = linear_sum_assignment(~ok)  # fewest invalid pairs = most valid matches
        tp += int(ok[rows, cols].sum())
    precision = tp / len(estimated) if estimated else 0.0
    recall = tp / len(reference) if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4),
            "reference_events": len(reference), "estimated_events": len(estimated)}


@torch.no_grad()
def predict(model: SoundTagger, mel: torch.Tensor, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Clip probabilities (clips, labels) and frame probabilities (clips, labels, frames) at the output rate."""
    model.eval()
    clips, frames = [], []
    for i in range(0, len(mel), batch):
        c, f = model.forward_mel(mel[i: i + batch].float())
        clips.append(c.numpy())
        frames.append(f.numpy())
    return np.concatenate(clips), np.concatenate(frames)


# ---------------------------------------------------------------- training
def train(args: argparse.Namespace) -> int:
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    work, out = Path(args.work), Path(args.out)
    data = cached_features(args.data, "train", args.cache)
    labels = data["labels"]
    # A few train clips watch for over-fitting; they share the train sources, so the held-out-source test
    # split (never used here) is the real measure, and the last epoch is shipped.
    n = len(data["fnames"])
    order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed))
    valid_idx, train_idx = order[: args.valid], order[args.valid:]
    mel, frames, clip = data["mel"], data["frames"], data["clip"]
    log.warning("Training on %d clips, watching %d; %d labels", len(train_idx), len(valid_idx), len(labels))
    model = SoundTagger(labels=labels, stem=tuple(args.stem), channels=args.channels, blocks=args.blocks,
                        kernel=args.kernel, dropout=args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("SoundTagger: %d parameters, %d threads", n_params, threads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    # An exponential moving average of the weights (and batch-norm statistics) is what gets shipped:
    # averaging along the path finds flatter minima, which carry over better to unheard sources
    # (SWAD, Cha et al., NeurIPS 2021). --ema 0 ships the last weights instead.
    average = WeightAverage(model, args.ema)
    meta = load_state(work, average.modules, optimizer) or {"epoch": 0, "step": 0, "wall": 0.0}
    if meta["epoch"]:
        log.warning("Resuming from epoch %d", meta["epoch"])
    weights = balanced_weights(clip[train_idx])
    steps_per_epoch = len(train_idx) // args.batch
    total = steps_per_epoch * args.epochs
    csv = CsvLog(work / "log.csv")
    for epoch in range(meta["epoch"], args.epochs):
        started = time.time()
        generator = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        draw = train_idx[torch.multinomial(weights, steps_per_epoch * args.batch, replacement=True,
                                           generator=generator)]
        model.train()
        bar = tqdm(draw.view(steps_per_epoch, args.batch), desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch")
        loss_sum = 0.0
        for step, idx in enumerate(bar, 1):
            lr = cosine_lr(meta["step"], total, args.lr, warmup=steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.no_grad():
                x, active = crop(mel[idx].float(), frames[idx], args.crop_frames, generator)
                x, active = mix_sources(x, active, generator, p=args.p_mix)
                x = random_eq(random_gain(x, generator), generator, db=args.eq_db)
                x = warp_frequency(x, generator, 1 - args.warp, 1 + args.warp)
                x = spec_augment(x, generator, freq_width=8, time_width=20)
                target_frames = frame_targets(active, model.time_stride)
                target_clip = active.amax(-1).float()
            logits = model.frame_logits(x)
            clip_prob = linear_softmax_pool(torch.sigmoid(logits)).clamp(1e-6, 1 - 1e-6)
            loss = (F.binary_cross_entropy(clip_prob, target_clip)
                    + args.frame_weight * F.binary_cross_entropy_with_logits(logits, target_frames))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            meta["step"] += 1
            average.update(meta["step"])
            loss_sum += loss.item()
            bar.set_postfix(loss=f"{loss_sum / step:.4f}", lr=f"{lr:.2e}")
        valid_map, _ = mean_average_precision(clip[valid_idx].numpy(), predict(average.shipped, mel[valid_idx])[0])
        last_map = (mean_average_precision(clip[valid_idx].numpy(), predict(model, mel[valid_idx])[0])[0]
                    if average.shipped is not model else valid_map)
        meta["wall"] += time.time() - started
        meta["epoch"] = epoch + 1
        csv.write(epoch=epoch + 1, step=meta["step"], train_loss=round(loss_sum / steps_per_epoch, 4),
                  valid_map=round(valid_map, 4), valid_map_last_weights=round(last_map, 4), lr=lr)
        log.warning("epoch %d: train loss %.4f, watch-set mAP %.4f (last weights %.4f) (%.0f s)", epoch + 1,
                    loss_sum / steps_per_epoch, valid_map, last_map, time.time() - started)
        save_state(work, average.modules, optimizer, meta)
    average.shipped.eval().save_pretrained(out)
    (out / "training.json").write_text(json.dumps({
        "parameters": n_params, "epochs": meta["epoch"], "train_wall_s": round(meta["wall"]), "threads": threads,
        "args": vars(args) | {"func": None}}, indent=1))
    log.warning("Saved the model after %d epochs to %s", meta["epoch"], out)
    return 0


# ---------------------------------------------------------------- evaluation
def mfcc_statistics(mel: torch.Tensor, n_mfcc: int = 20) -> np.ndarray:
    """Per clip: mean and standard deviation over time of MFCCs, their deltas and delta-deltas."""
    import librosa

    feats = []
    for m in mel.float().numpy():
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(np.exp(m)), n_mfcc=n_mfcc)
        stack = np.concatenate([mfcc, librosa.feature.delta(mfcc), librosa.feature.delta(mfcc, order=2)])
        feats.append(np.concatenate([stack.mean(1), stack.std(1)]))
    return np.stack(feats)


def mfcc_baseline(train: dict, test: dict) -> dict:
    """MFCC statistics + one-vs-rest logistic regression, fitted on train and scored on test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    x_train, x_test = mfcc_statistics(train["mel"]), mfcc_statistics(test["mel"])
    classifier = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=2000)))
    classifier.fit(x_train, train["clip"].numpy())
    value, ap = mean_average_precision(test["clip"].numpy(), classifier.predict_proba(x_test))
    return {"map": round(value, 4), "per_class_ap": {lab: round(float(a), 4) for lab, a in zip(test["labels"], ap)},
            "setup": "MFCC 20 + deltas + delta-deltas, mean and std per clip (120 values), standard scaling, "
                     "one-vs-rest scikit-learn LogisticRegression (C=1)", "wall_s": round(time.perf_counter() - started, 1)}


# Real recordings DATA.md reserves for evaluation, where Debian installs them: (folder, what is in them).
RESERVED = [
    ("/usr/share/asterisk/moh", "music, 8 kHz (asterisk-moh-opsound-wav)"),
    (str(ASTERISK_PROMPTS), "speech prompts, 8 kHz (asterisk-core-sounds-en-wav)"),
    ("/usr/share/sounds/freedesktop/stereo", "desktop sounds (sound-theme-freedesktop)"),
    ("/usr/share/sounds/alsa", "speaker-test voice and noise (alsa-utils)"),
]


def reserved_recordings(model: SoundTagger, per_folder: int = 20) -> dict:
    """Top tags of the real recordings that are on this machine: reported, never used to train or tune."""
    from ..audio import AudioError
    from ..inference import tag

    found = {}
    for folder, what in RESERVED:
        files = sorted(p for p in Path(folder).glob("*") if p.suffix.lower() in (".wav", ".oga", ".ogg", ".flac"))
        if not files:
            found[folder] = {"what": what, "found": False}
            continue
        tagged = {}
        for path in files[:per_folder]:
            try:
                result = tag(path, model=model)
            except AudioError as exc:
                tagged[path.name] = {"error": str(exc)}
                continue
            tagged[path.name] = {label: round(score, 3) for label, score in list(result.tags.items())[:3]}
        top = [next(iter(t)) for t in tagged.values() if "error" not in t]
        found[folder] = {"what": what, "found": True, "files": len(files), "tagged": len(tagged),
                         "top_tag_counts": {label: top.count(label) for label in sorted(set(top), key=top.count,
                                                                                        reverse=True)},
                         "top_tags": tagged}
    return found


def evaluate(args: argparse.Namespace) -> int:
    """mAP and per-class AP on the held-out-source test split, event F1, latency, the MFCC peer, and
    what the model hears in the real recordings reserved for evaluation."""
    from ..inference import detect_events

    set_threads(None)
    model = load_model_or_folder(args.model, SoundTagger)
    test = cached_features(args.data, "test", args.cache)
    if args.limit:
        test = {**test, "mel": test["mel"][: args.limit], "clip": test["clip"][: args.limit],
                "frames": test["frames"][: args.limit], "fnames": test["fnames"][: args.limit]}
    labels = model.labels
    assert labels == test["labels"], "the model's labels differ from the dataset's"
    started = time.perf_counter()
    scores, frame_probs = predict(model, test["mel"])
    seconds = time.perf_counter() - started
    value, ap = mean_average_precision(test["clip"].numpy(), scores)
    duration = test["mel"].shape[-1] / model.mel_spec.frames_per_second
    wanted = set(test["fnames"])
    reference = [((e["fname"], e["label"]), float(e["onset"]), float(e["offset"])) for e in test["events"]
                 if e["fname"] in wanted]
    estimated = []
    upsampled = F.interpolate(torch.from_numpy(frame_probs), size=test["mel"].shape[-1], mode="linear",
                              align_corners=False).numpy()
    for fname, probs in zip(test["fnames"], upsampled):
        estimated += [((fname, e.label), e.start, e.end) for e in detect_events(
            probs, labels, 1 / model.mel_spec.frames_per_second, duration, high=args.threshold,
            low=0.6 * args.threshold)]
    results = {
        "model": args.model, "test_clips": len(test["fnames"]),
        "map": round(value, 4),
        "per_class_ap": {lab: round(float(a), 4) for lab, a in zip(labels, ap)},
        "event_f1_onset_offset": event_f1(reference, estimated),
        "event_f1_onset_only": event_f1(reference, estimated, offsets=False),
        "event_setup": f"hysteresis {args.threshold}/{0.6 * args.threshold:.2f}, gaps < 0.3 s merged, events "
                       "< 0.2 s dropped; onset collar 0.2 s, offset collar max(0.2 s, 20 % of the length)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "latency_ms_per_10s_1_thread": round(latency_ms(model, 10 * SAMPLE_RATE, repeats=50), 2),
        "real_time_factor_batched_from_cached_log_mel": round(seconds / (len(test["fnames"]) * duration), 6),
    }
    if "mfcc" in (args.peers or []):
        results["peers"] = {"mfcc_logistic_regression": mfcc_baseline(
            cached_features(args.data, "train", args.cache), test)}
    results["reserved_real_recordings"] = reserved_recordings(model)
    f1 = results["event_f1_onset_offset"]["f1"]
    lines = [f"mAP {results['map']:.4f} on {len(test['fnames'])} test clips, event F1 {f1:.3f}, "
             f"latency {results['latency_ms_per_10s_1_thread']:.1f} ms per 10 s"]
    lines += [f"{name}: mAP {peer['map']:.4f}" for name, peer in results.get("peers", {}).items()]
    report(results, Path(args.report), args.json, lines)
    return 0

"""Train and evaluate the DigitGAN on the digits "zero".."nine" of a Speech Commands build (SC09).

Log-mels of the training clips are computed once into a cache under the work folder; a step then
costs only the two networks. The generator's weights are averaged (EMA) and only that average is
saved as the model. The judge is the shipped keyword CNN with its logits restricted to the digits.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..audio import MEL_SPECS
from ..features import LogMel, MelInverse
from ..hub import load_model_or_folder
from ..models.gan import CLIP_SAMPLES, DIGITS, DigitCritic, DigitGAN
from .common import CsvLog, ema_update, load_state, save_state, set_threads, wall_times

log = logging.getLogger(__name__)


def cached_digits(root: str, split: str, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Log-mels (clips, n_mels, frames) float16 and digit indices of one split, computed once."""
    from ..data.datasets import SpeechCommands

    if not (folder / "labels.npy").is_file():
        clips = SpeechCommands(root, split, words=DIGITS)
        front = LogMel(MEL_SPECS["gan"])
        mels = []
        with torch.no_grad():
            for i in tqdm(range(len(clips)), desc=f"log-mel cache ({split})", unit="clip"):
                mels.append(front(clips[i][0]).numpy().astype(np.float16))
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "mels.npy", np.stack(mels))
        np.save(folder / "labels.npy", np.array(clips.labels, dtype=np.int64))
    return np.load(folder / "mels.npy", allow_pickle=False), np.load(folder / "labels.npy", allow_pickle=False)


def diff_augment(x: torch.Tensor, floor: torch.Tensor, generator: torch.Generator, shift: int = 6,
                 cutout: int = 8) -> torch.Tensor:
    """DiffAugment (Zhao et al., 2020) for spectrograms: a random time shift and one cut-out span of
    frames per item, both filled with the floor. Differentiable, applied alike to real and fake."""
    batch, _, frames = x.shape
    index = torch.arange(frames).view(1, 1, -1)
    moved = index - torch.randint(-shift, shift + 1, (batch, 1, 1), generator=generator)
    start = torch.randint(0, frames - cutout + 1, (batch, 1, 1), generator=generator)
    keep = (moved >= 0) & (moved < frames) & ((index < start) | (index >= start + cutout))
    shifted = x.gather(2, moved.clamp(0, frames - 1).expand_as(x))
    return torch.where(keep, shifted, floor.expand_as(x))


@torch.no_grad()
def standing_stats(model: DigitGAN, batches: int = 16, batch: int = 64, seed: int = 0) -> DigitGAN:
    """Re-measure batch-norm statistics for the averaged weights ("standing statistics", BigGAN):
    the running statistics of the trained generator belong to its own weights, not to their average."""
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    for _ in range(batches):
        z = torch.randn(batch, model.z_dim, generator=generator)
        model(z, torch.randint(0, len(model.labels), (batch,), generator=generator))
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def export(ema: DigitGAN, folder: Path) -> DigitGAN:
    """A copy of the averaged generator with standing statistics, saved as a checkpoint folder."""
    model = standing_stats(copy.deepcopy(ema))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    return model


def load_judge(name: str = "kws-cnn"):
    """The keyword CNN and the indices of the ten digits among its labels."""
    from ..models.kws import KeywordCNN

    judge = load_model_or_folder(name, KeywordCNN)
    return judge, torch.tensor([judge.labels.index(d) for d in DIGITS])


@torch.no_grad()
def judge_audio(judge, digits: torch.Tensor, audio: torch.Tensor, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Digit probabilities (restricted softmax) and embeddings of 1-s clips (clips, CLIP_SAMPLES)."""
    probs, embeds = [], []
    for part in audio.split(batch):
        e = judge.embed(judge.front(part))
        probs.append(judge.head(e)[:, digits].softmax(-1).numpy())
        embeds.append(e.numpy())
    return np.concatenate(probs), np.concatenate(embeds)


@torch.no_grad()
def render(model: DigitGAN, z: torch.Tensor, labels: torch.Tensor, inverse: MelInverse,
           batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise and digits -> (log-mel, audio through the mel inverse), as users hear them."""
    mels, audio = [], []
    for zs, ys in zip(z.split(batch), labels.split(batch)):
        mel = model(zs, ys)
        mels.append(mel)
        audio.append(inverse(mel, CLIP_SAMPLES))
    return torch.cat(mels), torch.cat(audio)


def _sample_grid(model: DigitGAN, z: torch.Tensor, labels: torch.Tensor, inverse: MelInverse, folder: Path) -> None:
    """One spectrogram per digit (two rows of noise) as a PNG, and each digit's first clip as WAV."""
    from PIL import Image

    from ..audio import save
    from ..plot import spectrogram_image

    mels, audio = render(model, z, labels, inverse)
    tiles = [spectrogram_image(m.numpy(), scale=2, min_width=2 * m.shape[-1]) for m in mels]
    rows = [np.concatenate(tiles[r::2], axis=1) for r in range(2)]
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(folder / "grid.png")
    for i in range(0, len(audio), 2):
        save(folder / f"{DIGITS[int(labels[i])]}.wav", audio[i].numpy())


def train(args: argparse.Namespace) -> int:
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    work, out = Path(args.work), Path(args.out)
    started = time.time()
    mels, labels = cached_digits(args.data, "train", work / "cache-train")
    log.warning("Cache: %d training clips of %s, %.0f s", len(labels), np.bincount(labels, minlength=10).tolist(),
                time.time() - started)
    spec = MEL_SPECS["gan"]
    sample = mels[:: max(1, len(mels) // 4000)].astype(np.float32)
    mean, std = sample.mean(axis=(0, 2)), sample.std(axis=(0, 2)).clip(min=0.1)
    model = DigitGAN(z_dim=args.z_dim, channels=tuple(args.channels), mel_mean=mean.tolist(), mel_std=std.tolist())
    critic = DigitCritic(n_mels=spec.n_mels, classes=len(DIGITS), channels=tuple(args.critic_channels))
    ema = copy.deepcopy(model).eval()
    n_g, n_d = (sum(p.numel() for p in m.parameters()) for m in (model, critic))
    log.warning("DigitGAN %d parameters, critic %d, batch %d, %d threads", n_g, n_d, args.batch, threads)
    opt_g = torch.optim.Adam(model.parameters(), lr=args.lr_g, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(critic.parameters(), lr=args.lr_d, betas=(0.0, 0.9))
    meta = load_state(work, {"generator": model, "ema": ema}, opt_g) or {"step": 0, "wall": 0.0}
    if meta["step"]:
        load_state(work / "critic", {"critic": critic}, opt_d)
        log.warning("Resuming at step %d", meta["step"])
    real_all = model.normalise(torch.from_numpy(mels.astype(np.float32)))  # standardised once, ~200 MB
    target_all = torch.from_numpy(labels)
    floor = model.normalise(torch.full((1, spec.n_mels, 1), math.log(spec.log_floor)))
    generator = torch.Generator().manual_seed(args.seed * 100_003 + meta["step"])
    fixed_y = torch.arange(len(DIGITS)).repeat_interleave(2)
    fixed_z = torch.randn(len(fixed_y), args.z_dim, generator=torch.Generator().manual_seed(1234))
    inverse = MelInverse(spec)
    judge, digits = load_judge(args.judge)
    csv = CsvLog(work / "log.csv")
    bar = tqdm(range(meta["step"], args.steps), initial=meta["step"], total=args.steps, unit="step")
    tick = time.time()
    running: dict[str, float] = {}
    for step in bar:
        model.train()
        index = torch.randint(0, len(target_all), (args.batch,), generator=generator)
        real, y = real_all[index], target_all[index]
        z = torch.randn(args.batch, args.z_dim, generator=generator)
        fake_y = torch.randint(0, len(DIGITS), (args.batch,), generator=generator)
        half = args.batch // 2
        fake_y[half: 2 * half] = fake_y[:half]  # pairs of noise for one digit, for the mode-seeking term
        # Critic: hinge loss on real and generated, auxiliary digit classification on real only.
        with torch.no_grad():
            fake = model.forward_normalised(z, fake_y)
        score_real, logits_real = critic(diff_augment(real, floor, generator), y)
        score_fake, _ = critic(diff_augment(fake, floor, generator), fake_y)
        loss_d = (F.relu(1 - score_real).mean() + F.relu(1 + score_fake).mean()
                  + args.aux * F.cross_entropy(logits_real, y))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # Generator: raise the critic's score and make the critic's classifier hear the asked digit;
        # the second half of the batch repeats the first half's digits with other noise, and the
        # mode-seeking term (Mao et al., 2019) rewards clips that differ as much as their noise does.
        fake = model.forward_normalised(z, fake_y)
        score_fake, logits_fake = critic(diff_augment(fake, floor, generator), fake_y)
        spread = ((fake[:half] - fake[half: 2 * half]).abs().mean(dim=(1, 2))
                  / (z[:half] - z[half: 2 * half]).abs().mean(dim=1)).mean()
        loss_g = (-score_fake.mean() + args.aux_g * F.cross_entropy(logits_fake, fake_y)
                  + args.mode_seeking / (spread + 1e-5))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        ema_update(ema, model, args.ema, step=step)
        parts = {"d": loss_d.item(), "g": loss_g.item(), "real": score_real.mean().item(),
                 "fake": score_fake.mean().item(), "aux_real": (logits_real.argmax(-1) == y).float().mean().item(),
                 "aux_fake": (logits_fake.argmax(-1) == fake_y).float().mean().item(), "spread": spread.item()}
        for k, v in parts.items():
            running[k] = 0.98 * running[k] + 0.02 * v if k in running else v
        bar.set_postfix(d=f"{running['d']:.3f}", g=f"{running['g']:.3f}", aux=f"{running['aux_fake']:.2f}")
        if (step + 1) % args.save_every == 0 or step + 1 == args.steps:
            meta["wall"] += time.time() - tick
            tick = time.time()
            meta["step"] = step + 1
            shipped = export(ema, work / "last")
            row = {**{k: round(v, 4) for k, v in running.items()}, "judge_acc": ""}
            if (step + 1) % args.sample_every == 0 or step + 1 == args.steps:
                _sample_grid(shipped, fixed_z, fixed_y, inverse, work / "samples" / f"step{step + 1:06d}")
                # A quick look through the judge (200 clips); `evaluate gan` is the real measure.
                y_check = torch.arange(200) % len(DIGITS)
                z_check = torch.randn(200, args.z_dim, generator=torch.Generator().manual_seed(99))
                probs, _ = judge_audio(judge, digits, render(shipped, z_check, y_check, inverse)[1])
                row["judge_acc"] = round(float((probs.argmax(-1) == y_check.numpy()).mean()), 3)
                log.warning("step %d: judge accuracy %.3f on 200 clips", step + 1, row["judge_acc"])
            csv.write(step=step + 1, wall_s=round(meta["wall"]), **row)
            save_state(work / "critic", {"critic": critic}, opt_d, {"step": step + 1})
            save_state(work, {"generator": model, "ema": ema}, opt_g, meta)
    bar.close()
    final = export(ema, out)
    summary = {"generator_parameters": n_g, "critic_parameters": n_d, "steps": meta["step"],
               "train_minutes": round(meta["wall"] / 60, 1), "threads": threads,
               "args": {k: v for k, v in vars(args).items() if k != "func"}}
    (work / "train_summary.json").write_text(json.dumps(summary, indent=1))
    log.warning("Saved the EMA generator (%d parameters) to %s", sum(p.numel() for p in final.parameters()), out)
    print(json.dumps(summary, indent=2) if args.json else f"saved {out} ({summary['train_minutes']} min)")
    return 0


def inception_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))) (Salimans et al., 2016): high when each clip is one clear digit
    and all digits occur; at most the number of classes."""
    marginal = probs.mean(axis=0, keepdims=True)
    kl = (probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
    return float(np.exp(kl.mean()))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings (as FID; Heusel et al., 2017)."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr sqrt(A B) = tr sqrt(A^1/2 B A^1/2), whose argument is symmetric: eigh is exact and stable
    # where a general matrix square root of A B is not.
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
    trace_root = np.sqrt(np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def _summary(probs: np.ndarray, embeds: np.ndarray, targets: np.ndarray, reference: np.ndarray | None) -> dict:
    out = {"clips": len(probs), "inception_score": round(inception_score(probs), 3),
           "accuracy": round(float((probs.argmax(-1) == targets).mean()), 4),
           "per_digit_accuracy": {d: round(float((probs.argmax(-1)[targets == i] == i).mean()), 3)
                                  for i, d in enumerate(DIGITS) if (targets == i).any()}}
    if reference is not None:
        out["frechet_distance"] = round(frechet_distance(embeds, reference), 3)
    return out


def within_digit_spread(mels: np.ndarray, targets: np.ndarray, per_digit: int = 50) -> float:
    """Mean RMS log-mel distance between two clips of the same digit (first ``per_digit`` of each):
    a generator that says each digit one way only scores near 0."""
    spreads = []
    for i in np.unique(targets):
        x = mels[targets == i][:per_digit].reshape(-1, mels[0].size)
        d = np.sqrt(((x[:, None] - x[None]) ** 2).mean(-1))
        spreads.append(d[np.triu_indices(len(x), 1)].mean())
    return float(np.mean(spreads))


def _speed(model: DigitGAN, threads: int, repeats: int = 5) -> dict:
    """Wall time of ``generate`` for 16 clips, generator and mel inverse included."""
    from ..generation import generate

    calls = iter([("seven", 0)] + [("random", 1000 + 16 * r) for r in range(repeats)])  # warm-up, then timed

    def run() -> None:
        label, seed = next(calls)
        generate(label, 16, seed, model=model)

    times = wall_times(run, repeats, threads=threads)
    return {"clips": 16, "median_s": round(float(np.median(times)), 4), "threads": threads}


def evaluate(args: argparse.Namespace) -> int:
    """Inception Score, conditional accuracy and Fréchet distance under the keyword-CNN judge,
    against real held-out digits (the ceiling) and their mel-inverse resynthesis; and speed."""
    from ..data.datasets import SpeechCommands
    from ..features import mel_inverse
    from ..generation import generate

    set_threads(args.threads)
    model = load_model_or_folder(args.model, DigitGAN)
    judge, digits = load_judge(args.judge)
    # Real held-out digits: clips of persons never trained on.
    test = SpeechCommands(args.data, "test", words=DIGITS)
    real_audio = torch.stack([test[i][0] for i in tqdm(range(len(test)), desc="test digits", unit="clip")])
    real_targets = np.array(test.labels)
    real_probs, real_embeds = judge_audio(judge, digits, real_audio)
    # Real training clips (every sixth, 1,100): how far the training persons alone are from the test persons.
    train = SpeechCommands(args.data, "train", words=DIGITS)
    train_index = range(0, len(train), 6)
    train_audio = torch.stack([train[i][0] for i in tqdm(train_index, desc="train digits", unit="clip")])
    train_probs, train_embeds = judge_audio(judge, digits, train_audio)
    # The same clips through the gan front end and the mel inverse: the best a perfect generator could sound.
    front, inverse = LogMel(model.mel_spec), mel_inverse(model.mel_spec)
    with torch.no_grad():
        resynth = torch.cat([inverse(front(part), CLIP_SAMPLES) for part in real_audio.split(64)])
    resynth_probs, resynth_embeds = judge_audio(judge, digits, resynth)
    # Generated: an equal share of every digit, seeds args.seed .. args.seed + samples - 1.
    per_digit = -(-args.samples // len(DIGITS))
    clips = []
    for i, digit in enumerate(tqdm(DIGITS, desc="generating", unit="digit")):
        for start in range(0, per_digit, 50):  # generate() takes at most 64 clips a call
            clips += generate(digit, min(50, per_digit - start), args.seed + i * per_digit + start, model=model)
    fake_audio = torch.from_numpy(np.stack([c.audio for c in clips]))
    fake_targets = np.array([DIGITS.index(c.label) for c in clips])
    fake_probs, fake_embeds = judge_audio(judge, digits, fake_audio)
    real = _summary(real_probs, real_embeds, real_targets, None)
    generated = _summary(fake_probs, fake_embeds, fake_targets, real_embeds)
    with torch.no_grad():
        real_mels = torch.cat([front(part) for part in real_audio.split(256)]).numpy()
    real["within_digit_spread"] = round(within_digit_spread(real_mels, real_targets), 3)
    generated["within_digit_spread"] = round(within_digit_spread(np.stack([c.log_mel for c in clips]),
                                                                 fake_targets), 3)
    report = {
        "model": args.model, "judge": args.judge,
        "parameters": sum(p.numel() for p in model.parameters()),
        "generated": generated,
        "real_test": real,
        "real_test_mel_inverse": _summary(resynth_probs, resynth_embeds, real_targets, real_embeds),
        "real_train": _summary(train_probs, train_embeds, np.array(train.labels)[list(train_index)], real_embeds),
        "inception_score_ratio": round(generated["inception_score"] / real["inception_score"], 3),
        "speed": _speed(model, args.threads),
        "targets": {"accuracy": 0.80, "inception_score_ratio": 0.60, "speed_16_clips_s": 1.0},
    }
    report["targets_met"] = {"accuracy": generated["accuracy"] >= 0.80,
                             "inception_score_ratio": report["inception_score_ratio"] >= 0.60,
                             "speed": report["speed"]["median_s"] <= 1.0}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"generated: IS {generated['inception_score']:.2f} (real test {real['inception_score']:.2f}, "
              f"x{report['inception_score_ratio']:.2f}), accuracy {generated['accuracy']:.3f}, "
              f"Fréchet distance {generated['frechet_distance']:.2f}, within-digit spread "
              f"{generated['within_digit_spread']:.2f} (real {real['within_digit_spread']:.2f}); "
              f"16 clips in {report['speed']['median_s']:.2f} s on {args.threads} threads")
    return 0

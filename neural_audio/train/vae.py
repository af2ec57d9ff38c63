"""Train and evaluate the MelVAE on instrument notes, drum patterns and connected speech.

Log-mels are computed once into a cache under the work folder (float16, frames-major); training
then draws random crops from it, so a step costs only the model.
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
from tqdm import tqdm

from ..audio import MEL_SPECS, SAMPLE_RATE
from ..features import MelInverse, spectral_convergence
from ..hub import load_folder, load_model_or_folder
from ..models.vae import MelVAE, kl_per_dim
from .common import CsvLog, MelCache, cosine_lr, load_state, save_state, set_threads, spread, wall_times

log = logging.getLogger(__name__)

SOURCES = ("instruments", "drums", "speech")
DRUM_SECONDS = 4.0


def find_sources(folders: list[str]) -> dict[str, Path]:
    """Which built dataset each folder is: an NSynth layout, connected words or Speech Commands."""
    found: dict[str, Path] = {}
    for folder in map(Path, folders):
        if (folder / "nsynth-train").is_dir() or (folder / "nsynth-test").is_dir():
            found["instruments"] = folder
        elif (folder / "train.csv").is_file() or (folder / "testing_list.txt").is_file():
            found["speech"] = folder
        else:
            raise FileNotFoundError(f"{folder} is neither an NSynth nor a speech build "
                                    "(see `python -m neural_audio data --help`)")
    return found


def clips(folders: list[str], split: str, limit: int | None = None, drums: int = 0, seed: int = 0):
    """Yield (source, waveform) for one split: NSynth notes, speech utterances and rendered drum
    patterns (from the split's own soundfonts, so test drums come from the held-out soundfont)."""
    from ..data.datasets import ConnectedWords, NSynth, SpeechCommands

    found = find_sources(folders)
    if "instruments" in found:
        notes = NSynth(found["instruments"], split)
        for i in spread(len(notes), limit):
            yield "instruments", notes[i][0].numpy()
    if "speech" in found:
        root = found["speech"]
        speech = ConnectedWords(root, split) if (root / "train.csv").is_file() else SpeechCommands(root, split)
        for i in spread(len(speech), limit):
            yield "speech", speech[i][0].numpy()
    if drums:
        from ..data.instruments import DRUM_BANK, available_soundfonts, render_notes
        from ..data.tagging import drum_pattern

        fonts = available_soundfonts((split,))
        if not fonts:
            log.warning("No soundfont renderer or fonts: training without drum patterns")
        rng = np.random.default_rng((seed, 7))
        for i in range(drums if fonts else 0):
            font = fonts[i % len(fonts)]
            yield "drums", render_notes(font, 0, drum_pattern(rng, DRUM_SECONDS), DRUM_SECONDS, bank=DRUM_BANK)


def cached_mels(folders: list[str], split: str, folder: Path, limit: int | None, drums: int, seed: int) -> MelCache:
    if not (folder / "sources.json").is_file():
        MelCache.build(clips(folders, split, limit, drums, seed), MEL_SPECS["vae"]).save(folder)
    return MelCache.load(folder)


class CropSampler:
    """Random fixed-length crops, with each source drawn at a set share whatever its size."""

    def __init__(self, cache: MelCache, shares: dict[str, float], crop: int, floor: float, seed: int):
        self.cache, self.crop, self.floor = cache, crop, floor
        by_source = {s: np.flatnonzero(np.array(cache.sources) == s) for s in SOURCES}
        self.groups = [(by_source[s], shares[s]) for s in SOURCES if len(by_source[s]) and shares.get(s, 0) > 0]
        weights = np.array([w for _, w in self.groups])
        self.weights = weights / weights.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int, gain: float = 0.0) -> torch.Tensor:
        out = np.full((size, self.crop, self.cache.frames.shape[1]), self.floor, np.float32)
        for b in range(size):
            members, _ = self.groups[self.rng.choice(len(self.groups), p=self.weights)]
            clip = self.cache.clip(int(members[self.rng.integers(len(members))]))
            start = int(self.rng.integers(0, max(1, len(clip) - self.crop + 1)))
            piece = clip[start: start + self.crop]
            out[b, : len(piece)] = piece
        if gain:  # level changes, in the log domain; quiet bins stay at the floor
            out = np.maximum(out + self.rng.uniform(-gain, gain / 2, (size, 1, 1)).astype(np.float32), self.floor)
        return torch.from_numpy(out).transpose(1, 2).contiguous()


def vae_loss(model: MelVAE, mel: torch.Tensor, beta: float, free_bits: float) -> tuple[torch.Tensor, dict]:
    """L1 on log-mel plus beta x KL (nats per mel value), each latent dimension's KL held at least at
    ``free_bits`` nats per step so that no dimension is pushed to collapse (Kingma et al., 2016)."""
    recon, mean, logvar = model(mel)
    l1 = (recon - mel).abs().mean()
    kl = kl_per_dim(mean, logvar).mean(dim=(0, 2))
    kl_term = kl.clamp_min(free_bits).sum() / (mel.shape[1] * model.stride)
    return l1 + beta * kl_term, {"l1": l1.item(), "kl": kl.sum().item()}


def _save_model(model: MelVAE, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)


def train(args: argparse.Namespace) -> int:
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    work, out = Path(args.work), Path(args.out)
    spec = MEL_SPECS["vae"]
    floor = math.log(spec.log_floor)
    started = time.time()
    train_cache = cached_mels(args.data, "train", work / "cache-train", args.limit, args.drums, args.seed)
    valid_cache = cached_mels(args.data, "valid", work / "cache-valid", 200, args.drums // 20, args.seed + 1)
    log.warning("Cache: %d train clips (%s), %d frames; %d valid clips; %.0f s", len(train_cache.sources),
                {s: train_cache.sources.count(s) for s in SOURCES}, len(train_cache.frames),
                len(valid_cache.sources), time.time() - started)
    sample = np.asarray(train_cache.frames[:: max(1, len(train_cache.frames) // 200_000)], dtype=np.float32)
    model = MelVAE(latent_dim=args.latent_dim, channels=args.channels, stride=args.stride,
                   mel_mean=round(float(sample.mean()), 3), mel_std=round(float(sample.std()), 3))
    n_params = sum(p.numel() for p in model.parameters())
    log.warning("MelVAE: %d parameters, %d latent dims at %.2f steps/s, %d threads", n_params, args.latent_dim,
                model.frames_per_second, threads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    meta = load_state(work, {"model": model}, optimizer) or {"step": 0, "best": float("inf"), "wall": 0.0}
    if meta["step"]:
        log.warning("Resuming at step %d (best validation L1 %.4f)", meta["step"], meta["best"])
    shares = {"instruments": args.share_instruments, "drums": args.share_drums, "speech": args.share_speech}
    sampler = CropSampler(train_cache, shares, args.crop, floor, args.seed * 1000 + meta["step"])
    valid = CropSampler(valid_cache, shares, args.crop * 2, floor, 12345).batch(64)
    csv = CsvLog(work / "log.csv")
    warmup_kl = int(args.kl_warmup * args.steps)
    bar = tqdm(range(meta["step"], args.steps), initial=meta["step"], total=args.steps, unit="step")
    tick, running = time.time(), {"l1": 0.0, "kl": 0.0}
    for step in bar:
        model.train()
        lr = cosine_lr(step, args.steps, args.lr, args.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        beta = args.beta * min(1.0, step / max(1, warmup_kl))
        loss, parts = vae_loss(model, sampler.batch(args.batch, args.gain), beta, args.free_bits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        for k in running:
            running[k] = 0.98 * running[k] + 0.02 * parts[k] if step > meta["step"] else parts[k]
        bar.set_postfix(l1=f"{running['l1']:.3f}", kl=f"{running['kl']:.1f}", beta=f"{beta:.3f}")
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()
            with torch.no_grad():
                recon, mean, logvar = model(valid, sample=False)
                valid_l1 = float((recon - valid).abs().mean())
                kl = kl_per_dim(mean, logvar).mean(dim=(0, 2))
            meta["wall"] += time.time() - tick
            tick = time.time()
            meta["step"] = step + 1
            csv.write(step=step + 1, lr=round(lr, 6), beta=round(beta, 4), train_l1=round(running["l1"], 4),
                      train_kl=round(running["kl"], 2), valid_l1=round(valid_l1, 4),
                      valid_kl=round(float(kl.sum()), 2), active=int((kl > 0.01).sum()), wall_s=round(meta["wall"]))
            # The KL weight still grows during warm-up, so "best" only counts once it is in full force.
            if step + 1 >= warmup_kl and valid_l1 < meta["best"]:
                meta["best"] = valid_l1
                _save_model(model, work / "best")
            save_state(work, {"model": model}, optimizer, meta)
    bar.close()
    final = load_folder(MelVAE, work / "best") if (work / "best" / "config.json").is_file() else model
    _save_model(final, out)
    summary = {"parameters": n_params, "steps": meta["step"], "best_valid_l1": meta["best"],
               "train_minutes": round(meta["wall"] / 60, 1), "threads": threads}
    (work / "train_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=2) if args.json else f"saved {out} ({summary})")
    return 0


def _step_evenness(mels: list[torch.Tensor]) -> float:
    """Coefficient of variation of the distances between consecutive interpolation steps:
    0 when every step changes the sound by the same amount."""
    d = np.array([float((b - a).abs().mean()) for a, b in zip(mels, mels[1:])])
    return float(d.std() / max(d.mean(), 1e-9))


def _speed(model: MelVAE, seconds: float = 10.0, repeats: int = 5) -> dict:
    """Wall time to reconstruct ``seconds`` of audio, front end, VAE and Griffin-Lim included."""
    from ..synthesis import reconstruct

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.5 * t / seconds)) + 0.01 * rng.standard_normal(t.size))
    audio = audio.astype(np.float32)
    best = float(np.median(wall_times(lambda: reconstruct(audio, orig_sr=SAMPLE_RATE, model=model), repeats)))
    return {"seconds_of_audio": seconds, "median_s": round(best, 4), "x_real_time": round(seconds / best, 1),
            "threads": torch.get_num_threads()}


def evaluate(args: argparse.Namespace) -> int:
    """Reconstruction against the mel-inverse ceiling, KL per dimension, interpolation evenness, speed."""
    from ..synthesis import decode, encode, interpolate

    set_threads(args.threads)
    model = load_model_or_folder(args.model, MelVAE)
    spec, inverse = model.mel_spec, MelInverse(model.mel_spec)
    rows, means = [], []
    kl_sum, kl_steps = torch.zeros(model.latent_dim, dtype=torch.float64), 0
    encodings = []
    items = list(clips(args.data, "test", args.clips, drums=args.clips // 2, seed=1))
    with torch.no_grad():
        for source, audio in tqdm(items, desc="held-out clips", unit="clip"):
            wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
            mel = model.front(wave)
            ceiling = inverse(mel, wave.numel())
            enc = encode(audio, orig_sr=SAMPLE_RATE, model=model)
            out = decode(enc.latents, enc.frames, enc.samples, model=model)
            mean, logvar = model.encode(mel[None])
            kl_sum += kl_per_dim(mean, logvar)[0].sum(dim=1).double()
            kl_steps += mean.shape[-1]
            means.append(mean[0].T)
            rows.append({
                "source": source,
                "ceiling_l1": float((model.front(ceiling) - mel).abs().mean()),
                "vae_l1": float((model.front(torch.from_numpy(out.audio)) - mel).abs().mean()),
                "vae_mel_l1": float((torch.from_numpy(out.log_mel) - mel).abs().mean()),
                "ceiling_sc": spectral_convergence(wave, ceiling, spec),
                "vae_sc": spectral_convergence(wave, torch.from_numpy(out.audio), spec),
            })
            if source != "drums" and wave.numel() >= 2 * SAMPLE_RATE:
                encodings.append(encode(audio[: 2 * SAMPLE_RATE], orig_sr=SAMPLE_RATE, model=model))
    keys = ["ceiling_l1", "vae_l1", "vae_mel_l1", "ceiling_sc", "vae_sc"]

    def summary(subset: list[dict]) -> dict:
        out = {k: round(float(np.mean([r[k] for r in subset])), 4) for k in keys}
        out["l1_ratio"] = round(out["vae_l1"] / out["ceiling_l1"], 3)
        out["clips"] = len(subset)
        return out

    kl = (kl_sum / max(1, kl_steps)).float()
    activity = torch.cat(means).var(dim=0)  # Burda et al. (2016): a unit is active if Var_x E[z|x] > 0.01
    rng = np.random.default_rng(0)
    evenness = {"linear": [], "spherical": []}
    alphas = np.linspace(0, 1, 9)
    for _ in range(args.pairs if len(encodings) > 1 else 0):
        i, j = rng.choice(len(encodings), 2, replace=False)
        for mode in evenness:
            steps = [torch.from_numpy(interpolate(encodings[i], encodings[j], float(a), mode, model=model).log_mel)
                     for a in alphas]
            evenness[mode].append(_step_evenness(steps))
    report = {
        "model": args.model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "latent": {"dim": model.latent_dim, "steps_per_second": round(model.frames_per_second, 2)},
        "overall": summary(rows),
        "by_source": {s: summary([r for r in rows if r["source"] == s]) for s in SOURCES
                      if any(r["source"] == s for r in rows)},
        "kl_per_dim": [round(float(v), 4) for v in kl],
        "kl_total_per_step": round(float(kl.sum()), 3),
        "active_dims": int((activity > 0.01).sum()),
        "interpolation_step_cv": {m: round(float(np.mean(v)), 4) for m, v in evenness.items() if v},
        "speed": _speed(model),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        o = report["overall"]
        print(f"log-mel L1: VAE {o['vae_l1']:.3f} vs mel-inverse ceiling {o['ceiling_l1']:.3f} "
              f"(x{o['l1_ratio']:.2f}); SC {o['vae_sc']:.3f} vs {o['ceiling_sc']:.3f}; "
              f"active dims {report['active_dims']}/{model.latent_dim}; "
              f"{report['speed']['x_real_time']}x real time")
    return 0

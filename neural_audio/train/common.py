"""What every training loop shares: resumable state in safetensors, cosine schedule, CSV logs."""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..audio import SAMPLE_RATE, MelSpec
from ..features import LogMel

log = logging.getLogger(__name__)


def set_threads(threads: int | None = None) -> int:
    """Training uses every core it is given (default: all)."""
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


def spread(n: int, limit: int | None) -> list[int]:
    """Up to ``limit`` indices spread evenly over ``range(n)``, so a subset still covers every source."""
    if limit is None or limit >= n:
        return list(range(n))
    return np.linspace(0, n - 1, limit).round().astype(int).tolist()


def speaker_rows(root: Path) -> list[dict[str, str]]:
    """The rows of a speech builder's speakers.csv, if there is one."""
    path = root / "speakers.csv"
    if not path.is_file():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def person_labels(root: Path) -> dict[str, str]:
    """speaker id -> "engine:person" from the builder's speakers.csv, if there is one."""
    return {row["speaker"]: f"{row['engine']}:{row['person']}" for row in speaker_rows(root)}


def speaker_persons(*roots: Path) -> dict[str, str]:
    """speaker id -> person from the speakers.csv of these builds, which --persons needs."""
    person_of = {row["speaker"]: row["person"] for root in roots for row in speaker_rows(root)}
    if not person_of:
        raise SystemExit(f"--persons needs the builder's speakers.csv in {' or '.join(map(str, roots))}")
    return person_of


def draw_persons(persons, n: int, seed: int) -> list[str]:
    """``n`` of the distinct ``persons``, drawn with ``seed`` (the same draw for the same persons)."""
    persons = sorted(set(persons))
    if not 0 < n <= len(persons):
        raise SystemExit(f"--persons must be between 1 and {len(persons)}, the persons in the training splits")
    return sorted(np.random.default_rng(seed).choice(persons, size=n, replace=False).tolist())


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak``, then cosine decay to zero at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * peak * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, buffers: bool = False,
               step: int | None = None) -> None:
    """Move ``ema``'s weights a step of ``1 - decay`` towards ``model``'s. With ``buffers``, the
    floating-point buffers (batch-norm running statistics) are averaged too and the others copied, so the
    average is usable as it is; without, they are left for the caller to re-measure. With ``step`` (the
    optimizer steps so far), the decay warms up as min(decay, (1 + step) / (10 + step)), so the average
    soon forgets the random initial weights."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    if buffers:
        for e, b in zip(ema.buffers(), model.buffers()):
            if e.is_floating_point():
                e.lerp_(b, 1.0 - decay)
            else:
                e.copy_(b)


class WeightAverage:
    """What a trainer validates and ships: with ``decay`` > 0, an exponential moving average of ``model``'s
    weights and batch-norm statistics, kept in the resumable state as "ema"; with ``decay`` 0, the model."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model, self.decay = model, decay
        self.average = copy.deepcopy(model) if decay else None
        self.shipped = self.average if decay else model
        self.modules = {"model": model, "ema": self.average} if decay else {"model": model}

    def update(self, step: int) -> None:
        if self.average is not None:
            ema_update(self.average, self.model, self.decay, buffers=True, step=step)


def save_state(folder: Path, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer,
               meta: dict) -> None:
    """Write a resumable training state: tensors in safetensors, the rest in JSON (never pickle)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"{name}/{k}": v.detach().contiguous() for name, m in modules.items()
               for k, v in m.state_dict().items()}
    opt = optimizer.state_dict()
    for index, state in opt["state"].items():
        for k, v in state.items():
            tensors[f"optimizer/{index}/{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    tmp = folder / "state.safetensors.tmp"
    save_file(tensors, tmp)
    tmp.replace(folder / "state.safetensors")  # atomic: a crash never leaves half a state
    (folder / "state.json").write_text(json.dumps({**meta, "param_groups": opt["param_groups"]}, indent=1))


def load_state(folder: Path, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer) -> dict | None:
    """Restore what ``save_state`` wrote; returns its meta dict, or None when there is nothing to resume."""
    if not (folder / "state.safetensors").is_file():
        return None
    tensors = load_file(folder / "state.safetensors")
    for name, m in modules.items():
        prefix = f"{name}/"
        m.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    meta = json.loads((folder / "state.json").read_text())
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, k = key.split("/", 2)
            state.setdefault(int(index), {})[k] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    return meta


def wall_times(run, repeats: int, warmup: int = 1, threads: int | None = None) -> list[float]:
    """Seconds each of ``repeats`` calls of ``run()`` takes after ``warmup`` untimed ones, on ``threads``
    torch threads (default: as set); the thread count is restored afterwards."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return times
    finally:
        torch.set_num_threads(before)


def latency_ms(model: torch.nn.Module, samples: int, repeats: int = 100, warmup: int = 10) -> float:
    """Median wall time of the model on one clip of ``samples`` (front end included), on one thread."""
    x = torch.randn(1, samples) * 0.1
    with torch.no_grad():
        times = wall_times(lambda: model(x), repeats, warmup, threads=1)
    return float(sorted(times)[len(times) // 2] * 1e3)


class CsvLog:
    """Append-only metrics log, one row per call; survives resumes."""

    def __init__(self, path: Path):
        self.path = path
        self.start = time.time()

    def write(self, **row) -> None:
        row = {"time_s": round(time.time() - self.start, 1), **row}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


@dataclass
class MelCache:
    """Log-mels of many clips in one frames-major float16 array; clip i is frames[offsets[i]:offsets[i+1]]."""

    frames: np.ndarray  # (total frames, n_mels) float16
    offsets: np.ndarray  # (clips + 1,) int64
    sources: list[str]

    def clip(self, i: int) -> np.ndarray:
        return self.frames[self.offsets[i]: self.offsets[i + 1]]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "frames.npy", self.frames)
        np.save(folder / "offsets.npy", self.offsets)
        (folder / "sources.json").write_text(json.dumps(self.sources))

    @classmethod
    def load(cls, folder: Path) -> "MelCache":
        return cls(np.load(folder / "frames.npy", mmap_mode="r", allow_pickle=False),
                   np.load(folder / "offsets.npy", allow_pickle=False),
                   json.loads((folder / "sources.json").read_text()))

    @classmethod
    def build(cls, items, spec: MelSpec) -> "MelCache":
        """From (source, waveform) pairs; ``source`` is any short label kept per clip."""
        front = LogMel(spec)
        parts, offsets, sources = [], [0], []
        with torch.no_grad():
            for source, audio in tqdm(items, desc="log-mel cache", unit="clip"):
                mel = front(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))).T.numpy()
                parts.append(mel.astype(np.float16))
                offsets.append(offsets[-1] + len(mel))
                sources.append(source)
        frames = np.concatenate(parts) if parts else np.zeros((0, spec.n_mels), np.float16)
        return cls(frames, np.array(offsets, dtype=np.int64), sources)


def wanted_peers(requested: list[str] | None) -> list[str]:
    """The requested peer recognisers that are installed; one that is not is skipped with a warning
    (they come with ``pip install -r requirements-bench.txt``)."""
    import importlib.util

    found = [name for name in requested or [] if importlib.util.find_spec(name) is not None]
    for name in sorted(set(requested or []) - set(found)):
        log.warning("Peer %s is not installed (pip install -r requirements-bench.txt): skipped", name)
    return found


def pocketsphinx_decode(audios, rule: str) -> tuple[list[str], float]:
    """Each waveform (16 kHz float) decoded by pocketsphinx 5's default en-us model under a JSGF grammar
    whose public rule is ``rule``; returns the hypotheses and the real-time factor of decoding."""
    from pocketsphinx import Decoder

    from ..audio import SAMPLE_RATE

    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    decoder.add_jsgf_string("peer", f"#JSGF V1.0; grammar peer; public <utterance> = {rule} ;")
    decoder.activate_search("peer")
    out, seconds, duration = [], 0.0, 0.0
    for audio in tqdm(audios, desc="pocketsphinx", unit="utt", leave=False):
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
        start = time.perf_counter()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        seconds += time.perf_counter() - start
        duration += len(audio) / SAMPLE_RATE
        out.append(" ".join(hyp.hypstr.split()) if hyp and hyp.hypstr else "")
    return out, seconds / max(duration, 1e-9)


# Real speech that shared/DATA.md reserves for evaluation, where Debian's asterisk-core-sounds-en-wav
# installs it: one US-English speaker's telephone prompts, 8 kHz. Reported, never trained or tuned on.
ASTERISK_PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
REAL_DIGITS_WHAT = ("the ten spoken digits of Asterisk's prompts (asterisk-core-sounds-en-wav: one real US-English "
                    "speaker, 8 kHz telephone audio), never used to train or tune")


def reserved_digits() -> list[tuple[str, np.ndarray]]:
    """(word, 16 kHz waveform) of the prompts' spoken digits 0-9; empty where they are not installed."""
    from ..audio import load
    from ..decoding import DIGITS

    folder = ASTERISK_PROMPTS / "digits"
    return [(word, load(folder / f"{i}.wav")) for i, word in enumerate(DIGITS) if (folder / f"{i}.wav").is_file()]


def spliced_digit_strings(digits: list[tuple[str, np.ndarray]], count: int = 30, seed: int = 0,
                          sample_rate: int = SAMPLE_RATE) -> list[tuple[str, np.ndarray]]:
    """Digit strings of 2-7 digits joined from real single-digit recordings: each cut to its voiced part,
    with 0.05-0.3 s of silence before each and after the last. Real speech, but no coarticulation
    between the words, so easier than connected speech."""
    from ..audio import loud_span

    rng = np.random.default_rng(seed)
    cut = [(word, audio[slice(*(loud_span(audio) or (0, audio.size)))]) for word, audio in digits]
    strings = []
    for _ in range(count if cut else 0):
        picked = [cut[i] for i in rng.integers(0, len(cut), int(rng.integers(2, 8)))]
        parts = []
        for word, audio in picked:
            parts += [np.zeros(int(rng.uniform(0.05, 0.3) * sample_rate), np.float32), audio]
        strings.append((" ".join(w for w, _ in picked), np.concatenate(parts + [parts[0]])))
    return strings


def report(results: dict, folder: Path, as_json: bool, lines: list[str]) -> None:
    """Write ``results.json`` into ``folder``; print the results as JSON, or else the summary lines."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1) if as_json else "\n".join(lines))

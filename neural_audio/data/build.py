"""What every builder shares: per-item seeding, the worker pool, CSV writing and the build report.

Each item draws from its own generator seeded by (seed, item key), and results come back in
item order, so a build is byte-for-byte the same whatever the number of workers.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def stable_hash(*parts: object, digits: int = 16) -> str:
    """Hex digest of the parts' text; the same in every process and Python version."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:digits]


def item_rng(seed: int, *key: object) -> np.random.Generator:
    """A generator that depends only on the seed and the item's key, never on scheduling."""
    return np.random.default_rng(int(stable_hash(seed, *key), 16))


def run_items(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str) -> list[R]:
    """Apply ``fn`` to every item with a progress bar; results in item order."""
    from tqdm import tqdm

    bar = tqdm(total=len(items), desc=desc, unit="item", smoothing=0.05)
    results: list[R] = []
    try:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                results.append(fn(item))
                bar.update()
        else:
            # fork: workers inherit the loaded modules instead of re-importing them.
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for result in pool.imap(fn, items, chunksize=1):
                    results.append(result)
                    bar.update()
    finally:
        bar.close()
    return results


def write_csv(path: Path, header: Sequence[str] | None, rows: Iterable[Sequence[object]]) -> Path:
    """Write rows (already sorted by the caller) as UTF-8 CSV with Unix line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder`` by relative path: two builds match byte for byte when equal."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@dataclass
class Report:
    """What a build made: counts per split and class, hours of audio, persons per split."""

    dataset: str
    out: str
    clips: Counter = field(default_factory=Counter)  # split -> clips
    seconds: Counter = field(default_factory=Counter)  # split -> seconds of audio
    classes: dict[str, Counter] = field(default_factory=dict)  # split -> class -> clips
    persons: dict[str, list[str]] = field(default_factory=dict)  # split -> persons or sources
    notes: list[str] = field(default_factory=list)

    def add(self, split: str, seconds: float, *labels: str) -> None:
        self.clips[split] += 1
        self.seconds[split] += seconds
        self.classes.setdefault(split, Counter()).update(labels)

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "clips": dict(sorted(self.clips.items())),
            "hours": {k: round(v / 3600, 3) for k, v in sorted(self.seconds.items())},
            "classes": {s: dict(sorted(c.items())) for s, c in sorted(self.classes.items())},
            "persons": {s: sorted(p) for s, p in sorted(self.persons.items())},
            "notes": self.notes,
        }

    def save(self) -> Path:
        # No timestamps or paths inside, so that the file is reproducible under --seed.
        path = Path(self.out) / "build_report.json"
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def summary(self) -> str:
        lines = [f"{self.dataset} in {self.out}: {sum(self.clips.values())} clips, "
                 f"{sum(self.seconds.values()) / 3600:.2f} h"]
        for split in sorted(self.clips):
            persons = self.persons.get(split, [])
            lines.append(f"  {split}: {self.clips[split]} clips, {self.seconds[split] / 3600:.2f} h, "
                         f"{len(persons)} persons/sources")
            counts = self.classes.get(split, Counter())
            if counts:
                lines.append("    " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

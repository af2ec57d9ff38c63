"""Torch datasets over the built layouts, which are also the real datasets' own layouts.

- :class:`SpeechCommands`: Speech Commands v2 (``<word>/<speaker>_nohash_<n>.wav`` and the two lists).
- :class:`ConnectedWords`: ``{split}.csv`` manifests (path, text, speaker, duration).
- :class:`NSynth`: ``nsynth-{split}/examples.json`` and ``audio/``.
- :class:`SoundTagging`: the built ``ground_truth/`` layout, or FSD50K's own CSVs.

Each item is loaded with :func:`neural_audio.audio.load` (mono float32, 16 kHz) and, when an
:class:`~neural_audio.data.augment.Augment` is given, augmented under its seed and the item index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..audio import SAMPLE_RATE, load
from .augment import Augment, fit_length
from .build import read_csv
from .speech import BACKGROUND_DIR, WORDS
from .tagging import CLASSES

SPLIT_ALIASES = {"validation": "valid", "val": "valid", "eval": "test", "dev": "train"}


def _split(split: str) -> str:
    split = SPLIT_ALIASES.get(split, split)
    if split not in ("train", "valid", "test"):
        raise ValueError(f"split must be train, valid or test, got {split!r}")
    return split


def as_splits(split: str | Sequence[str]) -> list[str]:
    """One split or several (``("train", "valid")`` for a final run on both), as a list of split names."""
    return [_split(s) for s in ([split] if isinstance(split, str) else split)]


class _AudioDataset(Dataset):
    """Shared loading: file -> fixed-length float tensor, augmented when asked."""

    def __init__(self, root: str | Path, augment: Augment | None, seconds: float | None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder {self.root} does not exist")
        self.augment = augment
        self.samples = None if seconds is None else int(round(seconds * SAMPLE_RATE))

    def _audio(self, path: Path, index: int) -> torch.Tensor:
        audio = load(path)
        if self.samples is not None:
            audio = fit_length(audio, self.samples)
        if self.augment is not None:
            audio = self.augment(audio, index)
        return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))


class SpeechCommands(_AudioDataset):
    """Keyword spotting: items are (1-s waveform, word index in ``words``)."""

    def __init__(self, root: str | Path, split: str | Sequence[str] = "train", words: Sequence[str] = WORDS,
                 augment: Augment | None = None, seconds: float = 1.0):
        """``split`` is one split or several, e.g. ``("train", "valid")`` for a final run on both."""
        super().__init__(root, augment, seconds)
        self.words = tuple(words)
        held = {"valid": set(self._list("validation_list.txt")), "test": set(self._list("testing_list.txt"))}
        files = sorted(p.relative_to(self.root).as_posix() for p in self.root.glob("*/*.wav")
                       if p.parent.name != BACKGROUND_DIR and p.parent.name in self.words)
        splits = set(as_splits(split))

        def split_of(f: str) -> str:
            return "valid" if f in held["valid"] else "test" if f in held["test"] else "train"

        self.files = [f for f in files if split_of(f) in splits]
        self.labels = [self.words.index(f.split("/")[0]) for f in self.files]

    def _list(self, name: str) -> list[str]:
        path = self.root / name
        return path.read_text().split() if path.exists() else []

    def speaker(self, index: int) -> str:
        return Path(self.files[index]).name.split("_nohash_")[0]

    def background_noise(self) -> list[np.ndarray]:
        """The long recordings in ``_background_noise_``, for :class:`Augment`'s ``noises``."""
        return [load(p) for p in sorted((self.root / BACKGROUND_DIR).glob("*.wav"))]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self._audio(self.root / self.files[index], index), self.labels[index]


class ConnectedWords(_AudioDataset):
    """Connected words: items are (waveform of its own length, transcript)."""

    def __init__(self, root: str | Path, split: str | Sequence[str] = "train", augment: Augment | None = None):
        """``split`` is one split or several, e.g. ``("train", "valid")`` for a final run on both."""
        super().__init__(root, augment, None)
        self.rows = [row for s in as_splits(split) for row in read_csv(self.root / f"{s}.csv")]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        row = self.rows[index]
        return self._audio(self.root / row["path"], index), row["text"]


class NSynth(_AudioDataset):
    """NSynth notes: items are (4-s waveform, the note's examples.json record)."""

    def __init__(self, root: str | Path, split: str = "train", augment: Augment | None = None,
                 seconds: float = 4.0):
        super().__init__(root, augment, seconds)
        folder = self.root / f"nsynth-{_split(split)}"
        with open(folder / "examples.json", encoding="utf-8") as f:
            examples = json.load(f)
        self.audio_dir = folder / "audio"
        self.examples = [examples[k] for k in sorted(examples)]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        ex = self.examples[index]
        return self._audio(self.audio_dir / f"{ex['note_str']}.wav", index), ex


class SoundTagging(_AudioDataset):
    """Multi-label tagging: items are (waveform, multi-hot float vector over ``labels``).

    Reads the built layout (``ground_truth/{train,test}.csv``, ``audio/{split}/``) or FSD50K's
    (``FSD50K.ground_truth/{dev,eval,vocabulary}.csv``, ``FSD50K.{dev,eval}_audio/``;
    dev's ``split`` column gives train and valid).
    """

    def __init__(self, root: str | Path, split: str = "train", augment: Augment | None = None,
                 seconds: float | None = 5.0):
        super().__init__(root, augment, seconds)
        split = _split(split)
        fsd = self.root / "FSD50K.ground_truth"
        if fsd.is_dir():
            vocab_path = fsd / "vocabulary.csv"
            table = "eval" if split == "test" else "dev"
            rows = read_csv(fsd / f"{table}.csv")
            if table == "dev":
                rows = [r for r in rows if r.get("split", "train") == ("val" if split == "valid" else "train")]
            self.audio_dir = self.root / f"FSD50K.{table}_audio"
        else:
            if split == "valid":
                raise ValueError("the built tagging set has train and test only")
            vocab_path = self.root / "vocabulary.csv"
            rows = read_csv(self.root / "ground_truth" / f"{split}.csv")
            self.audio_dir = self.root / "audio" / split
        self.labels = tuple(line.split(",")[1] for line in vocab_path.read_text().splitlines() if line.strip()) \
            if vocab_path.exists() else CLASSES
        self.fnames = [r["fname"] for r in rows]
        index = {label: i for i, label in enumerate(self.labels)}
        self.targets = [[index[lab] for lab in r["labels"].split(",") if lab] for r in rows]
        events = self.root / "annotations" / f"{split}.csv"
        self.events = read_csv(events) if events.exists() else []

    def __len__(self) -> int:
        return len(self.fnames)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        target = torch.zeros(len(self.labels))
        target[self.targets[index]] = 1.0
        return self._audio(self.audio_dir / f"{self.fnames[index]}.wav", index), target

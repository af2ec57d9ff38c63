"""Tagging builder: FSD50K-like 5-s clips mixing 1-3 labelled sources, with event times.

Layout: DIR/vocabulary.csv (index,label,mid as in FSD50K), DIR/audio/{train,test}/<fname>.wav,
DIR/ground_truth/{train,test}.csv (fname,labels) and DIR/annotations/{train,test}.csv
(fname,label,onset,offset in seconds; an event's extent, its own gaps included).
Test clips use only held-out voices (validation and test persons) and held-out soundfonts.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import SAMPLE_RATE, save
from .augment import NOISE_COLORS, colored_noise
from .build import Report, item_rng, run_items, write_csv
from .instruments import DRUM_BANK, GM_EFFECTS, SoundFont, available_soundfonts, render_notes
from .speech import WORDS, Speaker, make_speakers
from .voices import available_voices, trim_silence

log = logging.getLogger(__name__)

CLIP_SECONDS = 5.0
# Melodic classes -> the GM programs that play them.
INSTRUMENT_PROGRAMS = {
    "piano": range(0, 8), "mallet": range(8, 16), "organ": range(16, 21), "guitar": range(24, 32),
    "bass": range(32, 40), "strings": (40, 41, 42, 43, 44, 48, 49), "brass": range(56, 64),
    "reed": range(64, 72), "flute": range(72, 80),
}
EFFECT_CLASSES = {"bird": "bird_tweet", "telephone": "telephone_ring", "helicopter": "helicopter",
                  "applause": "applause", "seashore": "seashore", "gunshot": "gunshot"}
PROCEDURAL_CLASSES = ("siren", "beep", "noise")
CLASSES = ("speech", *INSTRUMENT_PROGRAMS, "drums", *EFFECT_CLASSES, *PROCEDURAL_CLASSES)
TEST_SOURCES = ("valid", "test")  # voice/soundfont splits heard only in the tagging test set


def tagging_split(split: str) -> str:
    return "test" if split in TEST_SOURCES else "train"


def _phrase(rng: np.random.Generator, seconds: float, low: int, high: int) -> list[tuple[float, float, int, int]]:
    """A random melodic line: notes of 0.15-0.6 s walking in [low, high]."""
    notes, t, pitch = [], 0.0, int(rng.integers(low, high + 1))
    while t < seconds - 0.1:
        d = float(min(rng.uniform(0.15, 0.6), seconds - t))
        notes.append((t, d * 0.9, pitch, int(rng.integers(60, 127))))
        t += d
        pitch = int(np.clip(pitch + rng.integers(-5, 6), low, high))
    return notes


def drum_pattern(rng: np.random.Generator, seconds: float) -> list[tuple[float, float, int, int]]:
    step = 60.0 / rng.uniform(80, 140) / 2  # eighth notes
    kick, snare = rng.random(8) < 0.35, rng.random(8) < 0.3
    kick[0], snare[4] = True, True
    notes = []
    for i, t in enumerate(np.arange(0.0, seconds - 0.05, step)):
        beat = i % 8
        notes.append((float(t), 0.1, 42, int(rng.integers(50, 100))))  # closed hi-hat
        if kick[beat]:
            notes.append((float(t), 0.1, 36, int(rng.integers(90, 127))))
        if snare[beat]:
            notes.append((float(t), 0.1, 38, int(rng.integers(80, 127))))
    return notes


def _siren(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    lo, hi = rng.uniform(500, 800), rng.uniform(1000, 1600)
    rate = rng.uniform(0.2, 2.0)
    if rng.random() < 0.5:  # wail: smooth sweep
        f = lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * rate * t))
    else:  # hi-lo: two alternating tones
        f = np.where(np.floor(2 * rate * t) % 2 == 0, lo, hi)
    phase = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
    return sum(np.sin(k * phase) / k for k in (1, 3, 5)).astype(np.float32)


def _beeps(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.zeros(n, np.float32)
    freq, length, gap = rng.uniform(500, 2500), rng.uniform(0.08, 0.3), rng.uniform(0.05, 0.5)
    period = int((length + gap) * SAMPLE_RATE)
    tone = np.sin(2 * np.pi * freq * np.arange(int(length * SAMPLE_RATE)) / SAMPLE_RATE)
    tone *= np.minimum(1.0, np.minimum(np.arange(tone.size), np.arange(tone.size)[::-1]) / 80)  # no clicks
    for start in range(0, n - tone.size + 1, period):
        out[start: start + tone.size] = tone
    return out


def _bursts(rng: np.random.Generator, seconds: float) -> list[tuple[float, float, int, int]]:
    """A sound effect played as a run of short notes (0.1-1 s, gaps of 0.05-0.6 s) near one pitch."""
    notes, t, pitch = [], float(rng.uniform(0, 0.3)), int(rng.integers(55, 67))
    while t < seconds - 0.1:
        d = float(min(rng.uniform(0.1, 1.0), seconds - t))
        notes.append((t, d, pitch + int(rng.integers(-3, 4)), int(rng.integers(80, 127))))
        t += d + float(rng.uniform(0.05, 0.6))
    return notes


class _Sources:
    """Renders one event of a class from the sources of one side (train or test).

    With ``bursts`` (the train side), a sound effect is played either as one held note or, half of the
    time, as a run of short notes: soundfonts differ in whether an effect's sample is a short one-shot or
    a loop, and a tagger should know the sound either way. The test side keeps one held note, as in the
    first build, so that its clips stay the same from build to build.
    """

    def __init__(self, speakers: Sequence[Speaker], fonts: Sequence[SoundFont], bursts: bool = False):
        self.speakers, self.fonts, self.bursts = list(speakers), list(fonts), bursts

    def classes(self) -> list[str]:
        have = set(PROCEDURAL_CLASSES)
        if self.speakers:
            have.add("speech")
        if self.fonts:
            have.update(INSTRUMENT_PROGRAMS, EFFECT_CLASSES, ["drums"])
        return [c for c in CLASSES if c in have]

    def render(self, label: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
        n = int(seconds * SAMPLE_RATE)
        if label == "speech":
            speaker = self.speakers[int(rng.integers(len(self.speakers)))]
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 9))))
            return trim_silence(speaker.speak([text])[0])[:n]
        if label == "siren":
            return _siren(rng, n)
        if label == "beep":
            return _beeps(rng, n)
        if label == "noise":
            return colored_noise(n, NOISE_COLORS[int(rng.integers(len(NOISE_COLORS)))], rng)
        font = self.fonts[int(rng.integers(len(self.fonts)))]
        if label == "drums":
            return render_notes(font, 0, drum_pattern(rng, seconds), seconds, bank=DRUM_BANK)
        if label in EFFECT_CLASSES:
            program = GM_EFFECTS[EFFECT_CLASSES[label]]
            if label == "gunshot":
                notes = [(float(t), 0.3, 60, 120) for t in np.sort(rng.uniform(0, seconds - 0.3, rng.integers(1, 5)))]
            elif self.bursts and rng.random() < 0.5:
                notes = _bursts(rng, seconds)
            else:
                notes = [(0.0, seconds, int(rng.integers(55, 67)), int(rng.integers(80, 127)))]
            return render_notes(font, program, notes, seconds)
        programs = INSTRUMENT_PROGRAMS[label]
        program = int(programs[int(rng.integers(len(programs)))])
        low, high = (28, 55) if label == "bass" else (48, 84)
        return render_notes(font, program, _phrase(rng, seconds - 0.3, low, high), seconds)


def _clip_item(index: int, out: Path, n_train: int, n_clips: int, sources: dict[str, _Sources], seed: int) -> tuple:
    """Mix one clip; returns (split, fname, labels, [(label, onset, offset)]). Clips [n_train, n_clips)
    are the test split; the extra train clips come after them, so adding some leaves the test split as it was."""
    split = "test" if n_train <= index < n_clips else "train"
    rng = item_rng(seed, "tagging", index)
    side = sources[split]
    choices = side.classes()
    k = int(min(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3]), len(choices)))
    labels = sorted(rng.choice(choices, size=k, replace=False).tolist(), key=CLASSES.index)
    n = int(CLIP_SECONDS * SAMPLE_RATE)
    mix = np.zeros(n, np.float64)
    events = []
    for label in labels:
        seconds = float(rng.uniform(1.0, CLIP_SECONDS))
        audio = trim_silence(side.render(label, seconds, rng), top_db=50)
        peak = np.abs(audio).max(initial=0.0)
        if audio.size == 0 or peak < 1e-4:
            continue
        start = int(rng.integers(0, n - audio.size + 1))
        mix[start: start + audio.size] += audio / peak * 10 ** (rng.uniform(-12, 0) / 20)
        events.append((label, round(start / SAMPLE_RATE, 3), round((start + audio.size) / SAMPLE_RATE, 3)))
    peak = np.abs(mix).max(initial=0.0)
    if peak > 0:
        mix *= 10 ** (rng.uniform(-12, -1) / 20) / peak
    fname = f"{index:06d}"
    save(out / "audio" / split / f"{fname}.wav", mix.astype(np.float32))
    labels = [lab for lab in labels if any(e[0] == lab for e in events)]
    return split, fname, labels, events


def build_tagging(out: Path, seed: int = 0, clips: int = 10000, test_share: float = 0.2,
                  engines: Sequence[str] | None = None, soundfonts: Sequence[str] | None = None,
                  workers: int = 2, extra_train: int = 0) -> Report:
    """Multi-label 5-s mixtures in an FSD50K-like layout, sources split between train and test:
    ``clips`` of which ``test_share`` are test, then ``extra_train`` more train clips."""
    out = Path(out)
    voices = available_voices(engines)
    fonts = available_soundfonts(names=soundfonts)
    sources = {}
    for split in ("train", "test"):
        side_voices = [v for v in voices if tagging_split(v.split) == split]
        side_fonts = [f for f in fonts if tagging_split(f.split) == split]
        sources[split] = _Sources(make_speakers(side_voices, 5, seed, "tagging"), side_fonts,
                                  bursts=split == "train")
    n_train = clips - int(round(clips * test_share))
    results = run_items(functools.partial(_clip_item, out=out, n_train=n_train, n_clips=clips, sources=sources,
                                          seed=seed), list(range(clips + extra_train)), workers, "tagging")
    write_csv(out / "vocabulary.csv", None, [(i, label, "") for i, label in enumerate(CLASSES)])
    report = Report("tagging", str(out))
    truth: dict[str, list] = {"train": [], "test": []}
    annotations: dict[str, list] = {"train": [], "test": []}
    for split, fname, labels, events in results:
        truth[split].append((fname, ",".join(labels)))
        annotations[split].extend((fname, *e) for e in events)
        report.add(split, CLIP_SECONDS, *labels)
    for split in truth:
        write_csv(out / "ground_truth" / f"{split}.csv", ["fname", "labels"], truth[split])
        write_csv(out / "annotations" / f"{split}.csv", ["fname", "label", "onset", "offset"], annotations[split])
        side = sources[split]
        report.persons[split] = sorted({s.voice.person for s in side.speakers} | {f.name for f in side.fonts})
    report.notes.append(f"{len(CLASSES)} classes; sources per split are voices' persons and soundfonts")
    report.save()
    return report

"""Speech builders: Speech Commands v2 (single words) and connected words (TIDIGITS-style).

A *speaker* is one voice with one setting (variant, speed, pitch); the person behind the voice
decides the split, so validation and test persons are never heard in training.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import SAMPLE_RATE, save
from ..decoding import DIGIT_STRINGS, DIGITS
from .augment import colored_noise
from .build import Report, item_rng, run_items, stable_hash, write_csv
from .instruments import gm_effect_noise
from .voices import (ESPEAK_VARIANTS, OPT_IN_ENGINES, SETTINGS_SHARE, SPLITS, Voice, available_voices, synthesize,
                     synthesize_many, trim_silence)

log = logging.getLogger(__name__)

# Speech Commands v2's 35 words, in its order.
WORDS = tuple(
    "backward bed bird cat dog down eight five follow forward four go happy house learn left marvin nine no "
    "off on one right seven sheila six stop three tree two up visual wow yes zero".split())
BACKGROUND_DIR = "_background_noise_"
SPEED_RANGE = (0.8, 1.25)
PITCH_RANGE = (0.85, 1.18)
CLIP_SECONDS = 1.0
# Shorter than any real word: a voice that lacks a diphone (mbrola us3 has no "O2") gives such stubs.
MIN_WORD_SECONDS = 0.15


@dataclass(frozen=True)
class Speaker:
    """One voice at one setting: what Speech Commands calls a speaker."""

    id: str
    voice: Voice
    variant: str
    speed: float
    pitch: float

    @property
    def split(self) -> str:
        return self.voice.split

    def speak(self, texts: Sequence[str], speed: float = 1.0) -> list[np.ndarray]:
        return synthesize_many(self.voice, texts, self.speed * speed, self.pitch, self.variant)

    def row(self) -> list[object]:
        v = self.voice
        return [self.id, v.engine, v.name, v.person, v.split, self.variant, f"{self.speed:.3f}", f"{self.pitch:.3f}"]


SPEAKER_HEADER = ["speaker", "engine", "voice", "person", "split", "variant", "speed", "pitch"]


def make_speakers(voices: Sequence[Voice], per_person: int, seed: int, salt: str) -> list[Speaker]:
    """``per_person`` speakers for every person, spread over that person's voices; sorted by id."""
    by_person: dict[str, list[Voice]] = {}
    for v in sorted(voices, key=lambda v: v.key):
        by_person.setdefault(v.person, []).append(v)
    speakers: dict[str, Speaker] = {}
    for person, person_voices in sorted(by_person.items()):
        share = SETTINGS_SHARE.get(person_voices[0].engine, 1.0)
        for i in range(max(1, round(per_person * share))):
            voice = person_voices[i % len(person_voices)]
            rng = item_rng(seed, salt, person, i)
            variant = str(rng.choice(ESPEAK_VARIANTS)) if voice.engine == "espeak" else ""
            speed = float(np.exp(rng.uniform(*np.log(SPEED_RANGE))))
            pitch = float(np.exp(rng.uniform(*np.log(PITCH_RANGE))))
            sid = stable_hash(salt, voice.key, variant, f"{speed:.6f}", f"{pitch:.6f}", digits=8)
            speakers[sid] = Speaker(sid, voice, variant, speed, pitch)
    return [speakers[k] for k in sorted(speakers)]


def persons_by_split(speakers: Sequence[Speaker]) -> dict[str, list[str]]:
    return {s: sorted({sp.voice.person for sp in speakers if sp.split == s}) for s in SPLITS}


def _level(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Peak-normalize to a random level between -20 and -1 dBFS, as recordings vary."""
    peak = np.abs(audio).max(initial=0.0)
    return audio * (10 ** (rng.uniform(-20, -1) / 20) / peak) if peak > 0 else audio


# --- Speech Commands -------------------------------------------------------------------------

def _speech_commands_item(speaker: Speaker, out: Path, words: Sequence[str], seed: int) -> tuple[list, int]:
    """Every word by one speaker; returns (rows of (split, word, relpath, seconds), words skipped)."""
    rng = item_rng(seed, "speech-commands", speaker.id)
    limit = int(0.98 * CLIP_SECONDS * SAMPLE_RATE)
    rows, skipped = [], 0
    for word, audio in zip(words, speaker.speak(words)):
        audio = trim_silence(audio)
        if audio.size > limit:
            # Say it faster rather than stretching the waveform: the engine keeps it natural.
            audio = trim_silence(speaker.speak([word], speed=1.05 * audio.size / limit)[0])
        if audio.size > limit or audio.size < MIN_WORD_SECONDS * SAMPLE_RATE:
            skipped += 1
            continue
        clip = np.zeros(int(CLIP_SECONDS * SAMPLE_RATE), np.float32)
        start = int(rng.integers(0, clip.size - audio.size + 1))
        clip[start: start + audio.size] = _level(audio, rng)
        rel = f"{word}/{speaker.id}_nohash_0.wav"
        save(out / rel, clip)
        rows.append((speaker.split, word, rel, audio.size / SAMPLE_RATE))
    return rows, skipped


def build_speech_commands(out: Path, seed: int = 0, speakers_per_person: int = 30,
                          words: Sequence[str] = WORDS, engines: Sequence[str] | None = None,
                          noise_seconds: float = 60.0, workers: int = 2) -> Report:
    """Speech Commands v2 layout: DIR/<word>/<speaker>_nohash_0.wav, _background_noise_, lists."""
    out = Path(out)
    speakers = make_speakers(available_voices(engines), speakers_per_person, seed, "speech-commands")
    if not speakers:
        raise RuntimeError("No TTS voice is installed: run scripts/install-data-tools.sh")
    results = run_items(functools.partial(_speech_commands_item, out=out, words=tuple(words), seed=seed),
                        speakers, workers, "speech-commands")
    report = Report("speech-commands", str(out), persons=persons_by_split(speakers))
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    skipped = 0
    for rows, n_skipped in results:
        skipped += n_skipped
        for split, word, rel, seconds in rows:
            lists[split].append(rel)
            report.add(split, CLIP_SECONDS, word)
    (out / "validation_list.txt").write_text("".join(f"{p}\n" for p in sorted(lists["valid"])))
    (out / "testing_list.txt").write_text("".join(f"{p}\n" for p in sorted(lists["test"])))
    write_csv(out / "speakers.csv", SPEAKER_HEADER, [s.row() for s in speakers])
    # The babble talkers leave out the opt-in engines' persons, so naming those changes no other file.
    talkers = [s for s in speakers if s.split == "train" and s.voice.engine not in OPT_IN_ENGINES]
    noise_files = write_background_noise(out / BACKGROUND_DIR, seed, noise_seconds, talkers)
    report.notes.append(f"{len(speakers)} speakers; {skipped} words over {CLIP_SECONDS:g} s even when said faster "
                        f"or under {MIN_WORD_SECONDS:g} s were skipped; background noise: {', '.join(noise_files)}")
    if skipped:
        log.info("Skipped %d words that did not fit in %g s", skipped, CLIP_SECONDS)
    report.save()
    return report


def write_background_noise(folder: Path, seed: int, seconds: float, speakers: Sequence[Speaker]) -> list[str]:
    """Long background recordings for noise augmentation: colored noise, hum, babble, GM effects."""
    rng = item_rng(seed, "background")
    n = int(seconds * SAMPLE_RATE)
    sounds: dict[str, np.ndarray] = {f"{c}_noise": 0.3 * colored_noise(n, c, rng) for c in ("white", "pink", "brown")}
    t = np.arange(n) / SAMPLE_RATE
    sounds["mains_hum"] = 0.1 * sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3, 5)) + \
        0.01 * colored_noise(n, "white", rng)
    if speakers:
        sounds["babble"] = _babble(n, speakers, rng)
    sounds.update(gm_effect_noise(seconds))
    for name, audio in sorted(sounds.items()):
        peak = np.abs(audio).max(initial=0.0)
        save(folder / f"{name}.wav", audio * (0.5 / peak) if peak > 0 else audio)
    return sorted(sounds)


def _babble(n: int, speakers: Sequence[Speaker], rng: np.random.Generator, talkers: int = 6) -> np.ndarray:
    """Several train speakers talking at once, as in a canteen."""
    mix = np.zeros(n, np.float32)
    for k in range(talkers):
        speaker = speakers[int(rng.integers(len(speakers)))]
        pos = int(rng.integers(0, SAMPLE_RATE))
        while pos < n:
            text = " ".join(rng.choice(WORDS, size=8))
            audio = trim_silence(synthesize(speaker.voice, text, speaker.speed, speaker.pitch, speaker.variant))
            audio = audio[: n - pos]
            mix[pos: pos + audio.size] += audio / (np.abs(audio).max(initial=0) + 1e-9)
            pos += audio.size + int(rng.integers(0, SAMPLE_RATE // 2))
    return mix


# --- Connected words -------------------------------------------------------------------------

def random_transcript(rng: np.random.Generator, digit_share: float = DIGIT_STRINGS, max_words: int = 7) -> str:
    """1–``max_words`` words: a pure digit string with probability ``digit_share``, else any words."""
    vocab = DIGITS if rng.random() < digit_share else WORDS
    return " ".join(rng.choice(vocab, size=int(rng.integers(1, max_words + 1))))


def _with_pauses(text: str, rng: np.random.Generator, p_pause: float = 0.15) -> str:
    # A comma is the one pause mark every engine honours; the transcript stays without it.
    words = text.split()
    return " ".join(w + ("," if i < len(words) - 1 and rng.random() < p_pause else "") for i, w in enumerate(words))


def _connected_words_item(speaker: Speaker, out: Path, utterances: int, seed: int) -> list[tuple]:
    rng = item_rng(seed, "connected-words", speaker.id)
    texts = [random_transcript(rng) for _ in range(utterances)]
    spoken = [_with_pauses(t, rng) for t in texts]
    rows = []
    for k, (text, audio) in enumerate(zip(texts, speaker.speak(spoken))):
        audio = trim_silence(audio)
        if audio.size == 0:
            continue
        lead, tail = (int(rng.uniform(0.1, 0.4) * SAMPLE_RATE) for _ in range(2))
        clip = np.concatenate([np.zeros(lead, np.float32), _level(audio, rng), np.zeros(tail, np.float32)])
        rel = f"{speaker.split}/{speaker.id}_{k:03d}.wav"
        save(out / rel, clip)
        rows.append((speaker.split, rel, text, speaker.id, round(clip.size / SAMPLE_RATE, 4)))
    return rows


def build_connected_words(out: Path, seed: int = 0, speakers_per_person: int = 26, utterances: int = 20,
                          engines: Sequence[str] | None = None, workers: int = 2) -> Report:
    """Utterances of 1–7 words as DIR/{train,valid,test}/*.wav with DIR/{split}.csv manifests."""
    out = Path(out)
    speakers = make_speakers(available_voices(engines), speakers_per_person, seed, "connected-words")
    if not speakers:
        raise RuntimeError("No TTS voice is installed: run scripts/install-data-tools.sh")
    results = run_items(functools.partial(_connected_words_item, out=out, utterances=utterances, seed=seed),
                        speakers, workers, "connected-words")
    report = Report("connected-words", str(out), persons=persons_by_split(speakers))
    manifests: dict[str, list] = {s: [] for s in SPLITS}
    lengths: Counter = Counter()
    for rows in results:
        for split, rel, text, speaker, seconds in rows:
            manifests[split].append((rel, text, speaker, seconds))
            kind = "digits" if all(w in DIGITS for w in text.split()) else "words"
            lengths[len(text.split())] += 1
            report.add(split, seconds, kind)
    for split, rows in manifests.items():
        write_csv(out / f"{split}.csv", ["path", "text", "speaker", "duration"], sorted(rows))
    write_csv(out / "speakers.csv", SPEAKER_HEADER, [s.row() for s in speakers])
    report.notes.append(f"{len(speakers)} speakers; utterances by number of words: "
                        + " ".join(f"{k}:{v}" for k, v in sorted(lengths.items())))
    report.save()
    return report

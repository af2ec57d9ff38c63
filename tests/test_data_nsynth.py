"""Tiny NSynth build: layout, examples.json fields, 4-s notes, held-out soundfont, determinism."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json

import numpy as np
import pytest
import soundfile as sf

from neural_audio.audio import SAMPLE_RATE
from neural_audio.data.build import tree_digest
from neural_audio.data.instruments import FAMILIES, GM_FAMILY, SOURCES, available_soundfonts, render_note

pytest.importorskip("tinysoundfont", reason="tinysoundfont is not installed (pip install --no-deps tinysoundfont)")
if not available_soundfonts(("test",)):
    pytest.skip("the GM soundfonts are not installed (scripts/install-data-tools.sh)", allow_module_level=True)

from neural_audio.data.nsynth import build_nsynth  # noqa: E402

PROGRAMS = (0, 33, 73)
# The sf3 font takes seconds to decode; these three cover train, valid and test.
ARGS = dict(seed=1, pitch_step=12, velocities=1, programs=PROGRAMS, soundfonts=("FluidR3_GM", "sf_GMbank", "TimGM6mb"))


@pytest.fixture(scope="module")
def nsynth(tmp_path_factory):
    out = tmp_path_factory.mktemp("nsynth") / "a"
    return out, build_nsynth(out, workers=2, **ARGS)


def test_layout_and_examples(nsynth):
    out, report = nsynth
    fonts = {}
    for split in ("train", "valid", "test"):
        folder = out / f"nsynth-{split}"
        examples = json.loads((folder / "examples.json").read_text())
        assert examples and sorted(p.stem for p in (folder / "audio").glob("*.wav")) == sorted(examples)
        fonts[split] = {ex["soundfont"] for ex in examples.values()}
        for name, ex in examples.items():
            assert ex["note_str"] == name and ex["program"] in PROGRAMS
            assert FAMILIES[ex["instrument_family"]] == ex["instrument_family_str"] == GM_FAMILY[ex["program"]]
            assert SOURCES[ex["instrument_source"]] == ex["instrument_source_str"]
            assert name == f"{ex['instrument_str']}-{ex['pitch']:03d}-{ex['velocity']:03d}"
            assert ex["velocity"] in (25, 50, 75, 100, 127) and ex["sample_rate"] == SAMPLE_RATE
        info = sf.info(folder / "audio" / f"{name}.wav")
        assert (info.samplerate, info.frames, info.subtype) == (SAMPLE_RATE, 4 * SAMPLE_RATE, "PCM_16")
    assert fonts["test"] == {"TimGM6mb"} and fonts["valid"] == {"sf_GMbank"}
    assert not fonts["train"] & (fonts["test"] | fonts["valid"])
    assert report.clips["test"] > 0


def test_note_pitch_and_release():
    font = available_soundfonts(("test",))[0]
    audio = render_note(font, 73, 69, 100)  # flute A4
    assert audio.size == 4 * SAMPLE_RATE
    held, tail = audio[SAMPLE_RATE: 2 * SAMPLE_RATE], audio[int(3.9 * SAMPLE_RATE):]
    spectrum = np.abs(np.fft.rfft(held))
    assert abs(np.argmax(spectrum) - 440) < 9  # within 2% (35 cents); 1-s window: bins are 1 Hz
    assert np.sqrt(np.mean(tail ** 2)) < 0.1 * np.sqrt(np.mean(held ** 2))


def test_reproducible(nsynth, tmp_path):
    out, _ = nsynth
    build_nsynth(tmp_path / "b", workers=1, **ARGS)
    assert tree_digest(out) == tree_digest(tmp_path / "b")

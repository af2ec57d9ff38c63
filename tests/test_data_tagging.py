"""Tiny tagging build: vocabulary, ground truth, event times, 5-s clips, held-out sources, determinism."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
import shutil

import pytest
import soundfile as sf

from neural_audio.audio import SAMPLE_RATE
from neural_audio.data.build import read_csv, tree_digest
from neural_audio.data.tagging import CLASSES, build_tagging

pytest.importorskip("tinysoundfont", reason="tinysoundfont is not installed (pip install --no-deps tinysoundfont)")
if shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed (scripts/install-data-tools.sh installs the TTS engines)",
                allow_module_level=True)

ARGS = dict(seed=2, clips=24, test_share=0.25, engines=("espeak", "pico"),
            soundfonts=("FluidR3_GM", "sf_GMbank", "TimGM6mb"))


@pytest.fixture(scope="module")
def tagging(tmp_path_factory):
    out = tmp_path_factory.mktemp("tagging") / "a"
    return out, build_tagging(out, workers=2, **ARGS)


def test_layout_labels_and_events(tagging):
    out, report = tagging
    vocab = [line.split(",")[1] for line in (out / "vocabulary.csv").read_text().splitlines()]
    assert vocab == list(CLASSES) and len(vocab) >= 16
    for split, n in (("train", 18), ("test", 6)):
        rows = read_csv(out / "ground_truth" / f"{split}.csv")
        events = read_csv(out / "annotations" / f"{split}.csv")
        assert len(rows) == n == report.clips[split]
        for row in rows:
            labels = row["labels"].split(",")
            assert 1 <= len(labels) <= 3 and set(labels) <= set(CLASSES)
            own = [e for e in events if e["fname"] == row["fname"]]
            assert sorted(e["label"] for e in own) == sorted(labels)
            assert all(0 <= float(e["onset"]) < float(e["offset"]) <= 5.0 for e in own)
            info = sf.info(out / "audio" / split / f"{row['fname']}.wav")
            assert (info.samplerate, info.frames, info.subtype) == (SAMPLE_RATE, 5 * SAMPLE_RATE, "PCM_16")


def test_sources_are_split(tagging):
    out, _ = tagging
    sources = json.loads((out / "build_report.json").read_text())["persons"]
    assert sources["train"] and sources["test"] and not set(sources["train"]) & set(sources["test"])
    assert "TimGM6mb" in sources["test"] and "FluidR3_GM" in sources["train"]
    assert "espeak-en-029" in sources["test"] and "espeak-en-us" in sources["train"]


def test_reproducible(tagging, tmp_path):
    out, _ = tagging
    build_tagging(tmp_path / "b", workers=1, **ARGS)
    assert tree_digest(out) == tree_digest(tmp_path / "b")


def test_extra_train_clips_leave_the_test_split_as_it_was(tagging, tmp_path):
    out, _ = tagging
    report = build_tagging(tmp_path / "c", workers=2, extra_train=4, **ARGS)
    assert (report.clips["train"], report.clips["test"]) == (22, 6)
    assert tree_digest(out / "audio" / "test") == tree_digest(tmp_path / "c" / "audio" / "test")
    for name in ("ground_truth", "annotations"):
        assert (out / name / "test.csv").read_bytes() == (tmp_path / "c" / name / "test.csv").read_bytes()
    extra = [r["fname"] for r in read_csv(tmp_path / "c" / "ground_truth" / "train.csv")][-4:]
    assert extra == ["000024", "000025", "000026", "000027"]

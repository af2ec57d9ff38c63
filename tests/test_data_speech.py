"""Tiny Speech Commands and connected-words builds: layout, labels, durations, splits, determinism."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import shutil
from pathlib import Path

import pytest
import soundfile as sf

from neural_audio.audio import SAMPLE_RATE
from neural_audio.data.build import read_csv, tree_digest
from neural_audio.data.speech import BACKGROUND_DIR, DIGITS, WORDS, build_connected_words, build_speech_commands

if shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed (scripts/install-data-tools.sh installs the TTS engines)",
                allow_module_level=True)

# The fast engines keep the tiny builds to seconds; test_data_voices checks that the others speak.
ENGINES = ("espeak", "mbrola", "flite", "pico")
TINY_WORDS = ("yes", "sheila", "forward")


@pytest.fixture(scope="module")
def speech_commands(tmp_path_factory):
    out = tmp_path_factory.mktemp("sc") / "a"
    report = build_speech_commands(out, seed=7, speakers_per_person=1, words=TINY_WORDS, engines=ENGINES,
                                   noise_seconds=2.0, workers=2)
    return out, report


@pytest.fixture(scope="module")
def connected_words(tmp_path_factory):
    out = tmp_path_factory.mktemp("cw") / "a"
    report = build_connected_words(out, seed=7, speakers_per_person=1, utterances=3, engines=ENGINES, workers=2)
    return out, report


def _persons(out: Path) -> dict[str, str]:
    return {r["speaker"]: r["person"] for r in read_csv(out / "speakers.csv")}


def test_speech_commands_layout(speech_commands):
    out, report = speech_commands
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted([BACKGROUND_DIR, *TINY_WORDS])
    wavs = sorted(out.glob("*/*_nohash_*.wav"))
    assert len(wavs) == sum(report.clips.values()) > 60
    for wav in wavs[::7]:
        info = sf.info(wav)
        assert (info.samplerate, info.frames, info.channels, info.subtype) == (SAMPLE_RATE, SAMPLE_RATE, 1, "PCM_16")
    assert len(list((out / BACKGROUND_DIR).glob("*.wav"))) >= 4
    assert {r["engine"] for r in read_csv(out / "speakers.csv")} <= set(ENGINES)


def test_speech_commands_splits_hold_out_persons(speech_commands):
    out, _ = speech_commands
    persons = _persons(out)
    listed, held = {}, set()
    for name, split in (("validation_list.txt", "valid"), ("testing_list.txt", "test")):
        lines = (out / name).read_text().split()
        assert lines == sorted(lines) and all((out / line).exists() for line in lines)
        listed[split] = {persons[Path(line).name.split("_nohash_")[0]] for line in lines}
        held.update(lines)
    train_files = [p for p in out.glob("*/*_nohash_*.wav") if p.relative_to(out).as_posix() not in held]
    train = {persons[p.name.split("_nohash_")[0]] for p in train_files}
    assert listed["valid"] and listed["test"] and train
    assert not (listed["valid"] & listed["test"]) and not (train & (listed["valid"] | listed["test"]))
    assert "mbrola-us2" not in train and "espeak-en-029" in listed["test"]


def test_speech_commands_is_reproducible(speech_commands, tmp_path):
    out, _ = speech_commands
    again = tmp_path / "b"
    build_speech_commands(again, seed=7, speakers_per_person=1, words=TINY_WORDS, engines=ENGINES,
                          noise_seconds=2.0, workers=1)
    assert tree_digest(out) == tree_digest(again)


def test_connected_words_manifests(connected_words):
    out, report = connected_words
    persons = _persons(out)
    split_persons = {}
    n_digits = 0
    for split in ("train", "valid", "test"):
        rows = read_csv(out / f"{split}.csv")
        assert rows and all(r["path"].startswith(f"{split}/") for r in rows)
        split_persons[split] = {persons[r["speaker"]] for r in rows}
        for r in rows:
            words = r["text"].split()
            assert 1 <= len(words) <= 7 and set(words) <= set(WORDS)
            n_digits += set(words) <= set(DIGITS)
            info = sf.info(out / r["path"])
            assert info.samplerate == SAMPLE_RATE and abs(info.frames / SAMPLE_RATE - float(r["duration"])) < 1e-3
            assert 0.3 < float(r["duration"]) < 12
    total = sum(report.clips.values())
    assert total == sum(len(read_csv(out / f"{s}.csv")) for s in ("train", "valid", "test"))
    assert n_digits > 0.3 * total
    assert not split_persons["train"] & (split_persons["test"] | split_persons["valid"])
    assert not split_persons["valid"] & split_persons["test"]


def test_connected_words_is_reproducible(connected_words, tmp_path):
    out, _ = connected_words
    again = tmp_path / "b"
    build_connected_words(again, seed=7, speakers_per_person=1, utterances=3, engines=ENGINES, workers=1)
    assert tree_digest(out) == tree_digest(again)
    other = tmp_path / "c"
    build_connected_words(other, seed=8, speakers_per_person=1, utterances=3, engines=("espeak",), workers=1)
    assert read_csv(other / "train.csv") != read_csv(out / "train.csv")

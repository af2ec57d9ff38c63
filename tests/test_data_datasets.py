"""Dataset classes over the built layouts and over the real datasets' own layouts (faked tiny)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from neural_audio.audio import SAMPLE_RATE, save
from neural_audio.data.augment import Augment
from neural_audio.data.datasets import NSynth, SoundTagging, SpeechCommands
from neural_audio.data.speech import WORDS


def _tone(seconds: float) -> np.ndarray:
    return (0.3 * np.sin(np.arange(int(seconds * SAMPLE_RATE)) * 0.2)).astype(np.float32)


@pytest.fixture
def speech_commands_real(tmp_path):
    """Google's layout: lists name held-out files; everything else trains."""
    for word, speaker in (("yes", "aaaa1111"), ("no", "aaaa1111"), ("yes", "bbbb2222"), ("no", "cccc3333")):
        save(tmp_path / word / f"{speaker}_nohash_0.wav", _tone(0.8))
    save(tmp_path / "_background_noise_" / "white_noise.wav", _tone(3.0))
    (tmp_path / "validation_list.txt").write_text("yes/bbbb2222_nohash_0.wav\n")
    (tmp_path / "testing_list.txt").write_text("no/cccc3333_nohash_0.wav\n")
    return tmp_path


def test_speech_commands(speech_commands_real):
    train = SpeechCommands(speech_commands_real, "train")
    assert train.files == ["no/aaaa1111_nohash_0.wav", "yes/aaaa1111_nohash_0.wav"]
    assert train.labels == [WORDS.index("no"), WORDS.index("yes")]
    audio, label = train[1]
    assert audio.shape == (SAMPLE_RATE,) and audio.dtype == torch.float32 and label == WORDS.index("yes")
    assert len(SpeechCommands(speech_commands_real, "validation")) == 1
    both = SpeechCommands(speech_commands_real, ("train", "validation"))
    assert both.files == ["no/aaaa1111_nohash_0.wav", "yes/aaaa1111_nohash_0.wav", "yes/bbbb2222_nohash_0.wav"]
    assert SpeechCommands(speech_commands_real, "test").speaker(0) == "cccc3333"
    noise = train.background_noise()
    aug = SpeechCommands(speech_commands_real, "train", augment=Augment(seed=1, noises=noise, p_noise=1.0))
    a, b = aug[0][0], aug[0][0]
    assert torch.equal(a, b) and not torch.equal(a, train[0][0])
    batch, labels = next(iter(DataLoader(train, batch_size=2)))
    assert batch.shape == (2, SAMPLE_RATE) and labels.tolist() == train.labels


def test_nsynth_layout(tmp_path):
    folder = tmp_path / "nsynth-valid"
    examples = {"guitar_acoustic_001-060-100": {"note_str": "guitar_acoustic_001-060-100", "pitch": 60,
                                                "velocity": 100, "instrument_family": 3}}
    folder.mkdir()
    (folder / "examples.json").write_text(json.dumps(examples))
    save(folder / "audio" / "guitar_acoustic_001-060-100.wav", _tone(4.0))
    ds = NSynth(tmp_path, "valid")
    audio, ex = ds[0]
    assert len(ds) == 1 and audio.shape == (4 * SAMPLE_RATE,) and ex["pitch"] == 60


def test_fsd50k_layout(tmp_path):
    gt = tmp_path / "FSD50K.ground_truth"
    gt.mkdir()
    (gt / "vocabulary.csv").write_text("0,Speech,/m/09x0r\n1,Bird,/m/015p6\n2,Siren,/m/03kmc9\n")
    (gt / "dev.csv").write_text('fname,labels,mids,split\n1,"Speech,Bird","/m/09x0r,/m/015p6",train\n'
                                "2,Siren,/m/03kmc9,val\n")
    (gt / "eval.csv").write_text('fname,labels,mids\n3,Bird,/m/015p6\n')
    for folder, fname, seconds in (("dev", 1, 7.0), ("dev", 2, 2.0), ("eval", 3, 1.0)):
        save(tmp_path / f"FSD50K.{folder}_audio" / f"{fname}.wav", _tone(seconds))
    train = SoundTagging(tmp_path, "train")
    audio, target = train[0]
    assert train.labels == ("Speech", "Bird", "Siren") and len(train) == 1
    assert audio.shape == (5 * SAMPLE_RATE,) and target.tolist() == [1.0, 1.0, 0.0]
    assert SoundTagging(tmp_path, "valid")[0][1].tolist() == [0.0, 0.0, 1.0]
    assert SoundTagging(tmp_path, "test", seconds=None)[0][0].shape == (SAMPLE_RATE,)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (install-data-tools.sh)")
def test_built_layouts_load(tmp_path):
    pytest.importorskip("tinysoundfont", reason="tinysoundfont is not installed")
    from neural_audio.data.datasets import ConnectedWords
    from neural_audio.data.speech import build_connected_words, build_speech_commands
    from neural_audio.data.tagging import build_tagging

    build_speech_commands(tmp_path / "sc", speakers_per_person=1, words=("yes", "no"), engines=("espeak",),
                          noise_seconds=1.0, workers=1)
    sc = {s: SpeechCommands(tmp_path / "sc", s) for s in ("train", "valid", "test")}
    assert [len(d) for d in sc.values()] == [10, 2, 4]
    build_connected_words(tmp_path / "cw", speakers_per_person=1, utterances=2, engines=("espeak",), workers=1)
    audio, text = ConnectedWords(tmp_path / "cw", "test")[0]
    assert audio.ndim == 1 and audio.numel() > 0.3 * SAMPLE_RATE and text
    build_tagging(tmp_path / "tg", clips=5, test_share=0.4, engines=("espeak",),
                  soundfonts=("FluidR3_GM", "TimGM6mb"), workers=1)
    tg = SoundTagging(tmp_path / "tg", "test")
    audio, target = tg[1]
    assert len(tg) == 2 and audio.shape == (5 * SAMPLE_RATE,) and 1 <= target.sum() <= 3

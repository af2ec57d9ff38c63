import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, tone

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, checkpoints: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if checkpoints is not None:
        env["NEURAL_AUDIO_CHECKPOINTS"] = str(checkpoints)
    return subprocess.run([sys.executable, "-m", "neural_audio", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)


def test_help_lists_every_subcommand():
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("inspect", "recognize", "transcribe", "tag", "generate", "reconstruct", "interpolate",
                    "sample", "train", "evaluate", "data", "hub"):
        assert f"    {command}" in out.stdout


def test_import_is_light():
    code = ("import sys, neural_audio, neural_audio.cli; neural_audio.cli.build_parser();"
            "print(sorted(m for m in ('torch', 'gradio', 'librosa', 'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_inspect_json_shape(tmp_path):
    good = tmp_path / "tone.wav"
    sf.write(good, np.concatenate([tone(seconds=1.5), np.zeros(SR // 2, np.float32)]), SR)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = run_cli("inspect", str(good), str(silent), str(bad), "--json")
    assert out.returncode == 1  # one input failed
    results = json.loads(out.stdout)
    assert [r["file"] for r in results] == [str(good), str(silent), str(bad)]
    assert set(results[0]) == {"file", "duration", "peak_dbfs", "rms_dbfs", "silent"}
    assert results[0]["duration"] == 2.0 and abs(results[0]["peak_dbfs"] - (-6.02)) < 0.05
    assert results[0]["silent"] is False and results[1]["silent"] is True
    assert set(results[2]) == {"file", "error"} and "not a readable audio file" in results[2]["error"]
    assert "Traceback" not in out.stderr


def test_missing_checkpoints_offline_are_a_clear_error(tmp_path):
    """No checkpoints/ folder and no Hub (tests run with HF_HUB_OFFLINE=1): every model command says which
    model is missing and why, exits with 2 and prints no traceback."""
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(), SR)
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    for args, name in ((["transcribe", str(wav), "--json"], "ctc-rnn"), (["recognize", str(wav)], "kws-cnn"),
                       (["generate", "--label", "seven", "--out", str(tmp_path / "g")], "gan-digits")):
        out = run_cli(*args, checkpoints=empty)
        assert out.returncode == 2, out.stderr
        assert f"'{name}' is not in" in out.stderr and "HF_HUB_OFFLINE is set" in out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""


def test_transcribe_json_shape(tmp_path):
    digits = ROOT / "examples" / "words-seven-two-nine-five.wav"
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = run_cli("transcribe", str(digits), str(silent), str(bad), "--json")
    assert out.returncode == 1, out.stderr
    spoken, quiet, broken = json.loads(out.stdout)
    assert set(spoken) == {"file", "text", "words"} and spoken["text"] == "seven two nine five"
    assert [w["word"] for w in spoken["words"]] == spoken["text"].split()
    assert all(set(w) == {"word", "start", "end", "score"} and 0 <= w["start"] < w["end"] for w in spoken["words"])
    assert quiet == {"file": str(silent), "text": "", "words": []}  # silence: no words, not an error
    assert set(broken) == {"file", "error"} and "Traceback" not in out.stderr
    greedy = run_cli("transcribe", str(digits), "--beam", "0")
    assert greedy.returncode == 0 and greedy.stdout.startswith(f"{digits}: ")
    no_prior = run_cli("transcribe", str(digits), "--digit-strings", "0", "--json")
    assert no_prior.returncode == 0 and json.loads(no_prior.stdout)[0]["text"] == "seven two nine five"
    wrong = run_cli("transcribe", str(digits), "--digit-strings", "1", "--json")
    assert wrong.returncode == 2 and "a share from 0 up to" in wrong.stderr and "Traceback" not in wrong.stderr


def test_recognize_json_shape(tmp_path):
    seven = ROOT / "examples" / "speech-seven.wav"
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([np.zeros(SR // 2, np.float32), sf.read(seven, dtype="float32")[0],
                                   np.zeros(SR, np.float32)]), SR)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    out = run_cli("recognize", str(seven), str(long), str(bad), "--json")
    assert out.returncode == 1, out.stderr
    short_result, long_result, bad_result = json.loads(out.stdout)
    assert set(short_result) == {"file", "top"} and len(short_result["top"]) == 5
    assert short_result["top"][0]["label"] == "seven"
    assert all(set(t) == {"label", "score"} for t in short_result["top"])
    assert [t["score"] for t in short_result["top"]] == sorted((t["score"] for t in short_result["top"]), reverse=True)
    assert set(long_result) == {"file", "top", "segments"}
    assert [s["label"] for s in long_result["segments"]] == ["seven"]
    assert set(long_result["segments"][0]) == {"start", "end", "label", "score"}
    assert 0 <= long_result["segments"][0]["start"] < long_result["segments"][0]["end"] <= 2.5 + 1e-6 + 1
    assert "empty" in bad_result["error"]


def test_tag_json_shape(tmp_path):
    mixture = ROOT / "examples" / "tagging-speech-siren.wav"
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = run_cli("tag", str(mixture), str(bad), "--json")
    assert out.returncode == 1, out.stderr
    result, bad_result = json.loads(out.stdout)
    assert set(result) == {"file", "tags", "events"} and result["file"] == str(mixture)
    scores = list(result["tags"].values())
    assert len(scores) == 20 and scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert {"speech", "siren"} == set(list(result["tags"])[:2])
    assert result["events"] and all(set(e) == {"label", "start", "end"} for e in result["events"])
    assert all(0 <= e["start"] < e["end"] <= 6.0 for e in result["events"])
    assert set(bad_result) == {"file", "error"} and "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory):
    """A checkpoints/ folder holding a tiny random MelVAE: the CLI's shapes without the shipped weights."""
    import torch

    from neural_audio.models.vae import MelVAE

    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    MelVAE(latent_dim=4, channels=16, dilations=(1,)).save_pretrained(root / "vae-mel")
    return root


def test_reconstruct_json_shape(tmp_path, tiny_vae):
    a, b = tmp_path / "a.wav", tmp_path / "b.flac"
    sf.write(a, tone(seconds=0.8), SR)
    sf.write(b, tone(220.0, seconds=1.3, sr=22050), 22050)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = run_cli("reconstruct", str(a), str(b), str(bad), "--out", str(tmp_path / "out"), "--json",
                  checkpoints=tiny_vae)
    assert out.returncode == 1, out.stderr
    ra, rb, rbad = json.loads(out.stdout)
    assert set(ra) == {"file", "out", "duration", "latent_steps", "latent_dim"} and ra["latent_dim"] == 4
    assert ra["out"] == str(tmp_path / "out" / "a-reconstruction.wav")
    assert sf.info(ra["out"]).frames == int(0.8 * SR) and sf.info(rb["out"]).frames == int(1.3 * SR)
    assert rb["latent_steps"] == -(-(int(1.3 * SR) // 256 + 1) // 2)
    assert set(rbad) == {"file", "error"}
    one = run_cli("reconstruct", str(a), "--out", str(tmp_path / "single.wav"), checkpoints=tiny_vae)
    assert one.returncode == 0 and (tmp_path / "single.wav").is_file()


def test_interpolate_and_sample_json_shape(tmp_path, tiny_vae):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, tone(seconds=0.5), SR)
    sf.write(b, tone(880.0, seconds=1.0), SR)
    out = run_cli("interpolate", str(a), str(b), "--steps", "3", "--morph", "--mode", "spherical",
                  "--out", str(tmp_path / "walk"), "--json", checkpoints=tiny_vae)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert [r["alpha"] for r in results] == [0.0, 0.5, 1.0, "0->1"]
    lengths = [sf.info(r["file"]).frames for r in results]
    assert lengths == [SR // 2, 3 * SR // 4, SR, SR]  # length moves from A's to B's; the morph has the longer
    out = run_cli("interpolate", str(a), str(tmp_path / "missing.wav"), checkpoints=tiny_vae)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    out = run_cli("sample", "--n", "2", "--seconds", "0.5", "--seed", "7", "--out", str(tmp_path / "s"), "--json",
                  checkpoints=tiny_vae)
    assert out.returncode == 0, out.stderr
    assert [(r["seed"], sf.info(r["file"]).frames) for r in json.loads(out.stdout)] == [(7, SR // 2), (8, SR // 2)]
    out = run_cli("sample", "--seconds", "99", "--out", str(tmp_path / "s"), checkpoints=tiny_vae)
    assert out.returncode == 1 and "seconds must be" in out.stderr


@pytest.fixture(scope="module")
def tiny_gan(tmp_path_factory):
    """A checkpoints/ folder holding a tiny random DigitGAN."""
    import torch

    from neural_audio.models.gan import DigitGAN

    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    DigitGAN(z_dim=8, channels=(16, 16, 8, 8)).eval().save_pretrained(root / "gan-digits")
    return root


def test_generate_json_shape(tmp_path, tiny_gan):
    out = run_cli("generate", "--label", "seven", "--n", "3", "--seed", "4", "--out", str(tmp_path / "g"), "--json",
                  checkpoints=tiny_gan)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert [set(r) for r in results] == [{"file", "label", "seed"}] * 3
    assert [(r["label"], r["seed"]) for r in results] == [("seven", 4), ("seven", 5), ("seven", 6)]
    assert all(sf.info(r["file"]).frames == SR and sf.info(r["file"]).samplerate == SR for r in results)
    again = run_cli("generate", "--label", "seven", "--seed", "5", "--out", str(tmp_path / "h"), "--json",
                    checkpoints=tiny_gan)
    np.testing.assert_array_equal(sf.read(json.loads(again.stdout)[0]["file"])[0], sf.read(results[1]["file"])[0])
    rand = run_cli("generate", "--label", "random", "--n", "4", "--out", str(tmp_path / "r"), "--json",
                   checkpoints=tiny_gan)
    assert rand.returncode == 0 and [r["seed"] for r in json.loads(rand.stdout)] == [0, 1, 2, 3]
    bad = run_cli("generate", "--label", "eleven", "--out", str(tmp_path / "b"), checkpoints=tiny_gan)
    assert bad.returncode == 1 and "Unknown digit 'eleven'" in bad.stderr and "Traceback" not in bad.stderr

"""Test settings: offline Hub, one torch thread, and shared audio fixtures."""

import os

# Before torch or huggingface_hub load: both read these once at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SR = 16000


def tone(freq: float = 440.0, seconds: float = 1.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(seconds: float = 4.0, sr: int = SR, f0: float = 100.0, f1: float = 4000.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2)
    return (0.5 * np.sin(phase)).astype(np.float32)


def dominant_frequency(audio: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sr)[np.argmax(spectrum)])


def tiny_speech_commands(root):
    """Three persons saying three words (tones at their own pitch): a trains, b validates, c tests."""
    import soundfile as sf

    for k, person in enumerate(("aaaa1111", "bbbb2222", "cccc3333")):
        for j, word in enumerate(("yes", "no", "up")):
            (root / word).mkdir(parents=True, exist_ok=True)
            sf.write(root / word / f"{person}_nohash_0.wav", tone(300 + 200 * j + 50 * k, 0.8), SR)
    (root / "_background_noise_").mkdir()
    sf.write(root / "_background_noise_" / "hum.wav", tone(50, 3.0, amp=0.05), SR)
    (root / "validation_list.txt").write_text("".join(f"{w}/bbbb2222_nohash_0.wav\n" for w in ("yes", "no", "up")))
    (root / "testing_list.txt").write_text("".join(f"{w}/cccc3333_nohash_0.wav\n" for w in ("yes", "no", "up")))
    return root


@pytest.fixture
def stand_in_prompts(tmp_path, monkeypatch):
    """A stand-in for the real Asterisk digit prompts (never read by tests): tones at 8 kHz for 0, 1 and 2."""
    import soundfile as sf

    from neural_audio.train import common

    digits = tmp_path / "prompts" / "digits"
    digits.mkdir(parents=True)
    for i in range(3):
        sf.write(digits / f"{i}.wav", tone(300 + 200 * i, 0.5, sr=8000), 8000)
    monkeypatch.setattr(common, "ASTERISK_PROMPTS", tmp_path / "prompts")
    return digits


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)

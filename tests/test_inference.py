import numpy as np
import pytest

from neural_audio.audio import MEL_SPECS, AudioError, load
from neural_audio.inference import describe, log_mel, summarize
from neural_audio.plot import colorize, spectrogram_image

from conftest import SR, tone


def test_summary_levels():
    s = summarize(np.concatenate([tone(amp=0.5), np.zeros(SR, np.float32)]))
    assert s.duration == 2.0 and not s.silent
    assert abs(s.peak_dbfs - 20 * np.log10(0.5)) < 0.01
    assert abs(s.rms_dbfs - 20 * np.log10(0.5 / np.sqrt(2) / np.sqrt(2))) < 0.05
    assert summarize(np.zeros(SR, np.float32)).silent


def test_spectrogram_uses_the_family_front_end(tmp_path):
    import soundfile as sf

    path = tmp_path / "a.wav"
    sf.write(path, tone(1000, 1.0, 44100), 44100)
    assert describe(path).duration == 1.0
    mel = log_mel(load(path), "tagger")
    assert mel.shape == (MEL_SPECS["tagger"].n_mels, SR // MEL_SPECS["tagger"].hop_length + 1)
    with pytest.raises(AudioError):
        describe(tmp_path / "missing.wav")


def test_spectrogram_image_orientation_and_size():
    mel = log_mel(tone(300, 0.5), "kws")  # 300 Hz sits in the low bands
    image = spectrogram_image(mel, scale=2, min_width=100)
    assert image.dtype == np.uint8 and image.shape[0] == 2 * mel.shape[0] and image.shape[1] >= 100
    brightness = image.astype(int).sum(axis=(1, 2))
    assert brightness[-20:].sum() > brightness[:20].sum()  # energy at the bottom rows
    assert (colorize(np.array([0.0, 1.0])) == [[0x44, 0x01, 0x54], [0xFD, 0xE7, 0x25]]).all()

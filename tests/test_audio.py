import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from neural_audio import audio
from neural_audio.audio import AudioError, load

from conftest import SR, dominant_frequency, tone

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def _write(path, data, sr, **kw):
    sf.write(path, data, sr, **kw)
    return path


def _assert_tone(x: np.ndarray, seconds: float = 1.0, freq: float = 440.0):
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size - seconds * SR) <= 0.01 * SR
    assert np.abs(x).max() <= 1.0
    assert abs(dominant_frequency(x) - freq) < 3


@pytest.mark.parametrize("fmt,subtype", [
    ("WAV", "PCM_U8"), ("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT"), ("WAV", "DOUBLE"),
    ("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III"),
])
def test_soundfile_formats(tmp_path, fmt, subtype):
    path = _write(tmp_path / f"a.{fmt.lower()}", tone(seconds=1.0, sr=SR), SR, format=fmt, subtype=subtype)
    _assert_tone(load(path))


@needs_ffmpeg
@pytest.mark.parametrize("ext,codec", [("webm", "libopus"), ("m4a", "aac")])
def test_ffmpeg_formats(tmp_path, ext, codec):
    wav = _write(tmp_path / "a.wav", tone(seconds=1.0, sr=48000), 48000)
    out = tmp_path / f"a.{ext}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", codec, str(out)], check=True)
    _assert_tone(load(out), seconds=1.0)
    _assert_tone(load(out.read_bytes()), seconds=1.0)  # raw upload bytes take the same path


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000, 192000])
def test_sample_rates_are_resampled(tmp_path, rate):
    path = _write(tmp_path / "a.wav", tone(seconds=1.0, sr=rate), rate, subtype="PCM_16")
    _assert_tone(load(path))


def test_multichannel_is_downmixed(tmp_path):
    left = tone(seconds=1.0)
    six = np.stack([left] + [np.zeros_like(left)] * 5, axis=1)
    x = load(_write(tmp_path / "six.wav", six, SR, subtype="FLOAT"))
    _assert_tone(x)
    assert np.isclose(np.abs(x).max(), 0.5 / 6, rtol=0.02)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_arrays_of_any_width(dtype):
    x = tone(seconds=1.0)
    if np.dtype(dtype).kind == "i":
        array = (x * np.iinfo(dtype).max).astype(dtype)
    elif np.dtype(dtype).kind == "u":
        array = ((x + 1) * 127.5).astype(dtype)
    else:
        array = x.astype(dtype)
    y = load(array, orig_sr=SR)
    _assert_tone(y)
    assert np.allclose(y, x, atol=0.02)


def test_channels_first_array_and_bytes(tmp_path):
    stereo = np.stack([tone(seconds=1.0), tone(seconds=1.0)])  # (channels, samples)
    _assert_tone(load(stereo, orig_sr=SR))
    path = _write(tmp_path / "a.flac", tone(seconds=1.0), SR)
    assert np.array_equal(load(path.read_bytes()), load(path))


def test_over_full_scale_floats_are_scaled(tmp_path):
    x = load(tone(seconds=1.0, amp=4.0), orig_sr=SR)
    assert np.isclose(np.abs(x).max(), 1.0, atol=1e-3)


def test_silence_is_loaded_and_detected(tmp_path):
    x = load(np.zeros(SR, np.float32), orig_sr=SR)
    assert x.size == SR and audio.is_silent(x)
    assert not audio.is_silent(tone())


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    good = _write(tmp_path / "good.wav", tone(seconds=1.0), SR, subtype="PCM_16").read_bytes()
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(good[:12] + bytes(range(256)) * 8)
    zero = _write(tmp_path / "zero.wav", np.zeros(0, np.float32), SR, subtype="PCM_16")
    nan = _write(tmp_path / "nan.wav", np.full(SR, np.nan, np.float32), SR, subtype="FLOAT")
    some_nan = tone(seconds=1.0)
    some_nan[100] = np.inf
    some_nan = _write(tmp_path / "some_nan.wav", some_nan, SR, subtype="FLOAT")
    long = _write(tmp_path / "long.wav", np.zeros(3 * SR, np.float32), SR, subtype="PCM_16")
    slow = _write(tmp_path / "slow.wav", tone(seconds=1.0, sr=4000), 4000, subtype="PCM_16")
    fast = _write(tmp_path / "fast.wav", np.zeros(384000, np.float32), 384000, subtype="PCM_16")
    return [
        (empty, "empty"), (text, "not a readable audio file"), (corrupt, "not a readable audio file"),
        (zero, "zero length"), (nan, "only NaN"), (some_nan, "1 NaN or infinite"), (long, "limit is 2 s"),
        (slow, "4000 Hz"), (fast, "384000 Hz"), (tmp_path / "missing.wav", "does not exist"),
        (tmp_path, "is a folder"), (b"", "empty"), (b"RIFF0000WAVEjunk", "not a readable"),
    ]


def test_bad_files_raise_one_clear_error(tmp_path):
    for source, message in _bad_inputs(tmp_path):
        with pytest.raises(AudioError, match=message):
            load(source, max_seconds=2.0)


@pytest.mark.parametrize("array,kwargs,message", [
    (np.zeros(10, bool), {"orig_sr": SR}, "must be numbers"),
    (np.zeros((2, 2, 2), np.float32), {"orig_sr": SR}, "1-D"),
    (np.zeros(10, np.float32), {}, "needs its sample rate"),
    (np.array([], np.float32), {"orig_sr": SR}, "zero length"),
    (np.full(100, np.nan), {"orig_sr": SR}, "only NaN"),
    (np.zeros(100, np.float32), {"orig_sr": 1000}, "1000 Hz"),
])
def test_bad_arrays(array, kwargs, message):
    with pytest.raises(AudioError, match=message):
        load(array, **kwargs)


def test_not_a_source():
    with pytest.raises(AudioError, match="Expected a file path"):
        load(12345)


def test_ffmpeg_formats_without_ffmpeg_say_so(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "ffmpeg_path", lambda: None)
    m4a = tmp_path / "voice.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(64))
    with pytest.raises(AudioError, match="needs ffmpeg.*not installed"):
        load(m4a)


@needs_ffmpeg
def test_ffmpeg_error_hides_server_paths(tmp_path):
    junk = tmp_path / "clip.webm"
    junk.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(100))
    with pytest.raises(AudioError) as info:
        load(junk)
    assert str(tmp_path) not in str(info.value)


def test_save_round_trip(tmp_path):
    x = tone(seconds=0.5)
    path = audio.save(tmp_path / "sub" / "x.wav", x)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert np.allclose(load(path), x, atol=1e-4)

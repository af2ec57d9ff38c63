"""Augmentation: deterministic under a seed, keeps length, does what it says."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from neural_audio.audio import SAMPLE_RATE
from neural_audio.data import augment as A


def _tone(seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_augment_is_deterministic_and_keeps_length():
    aug = A.Augment(seed=3, p_noise=1, p_reverb=1, p_gain=1, p_telephone=1, p_speed=1, p_pitch=1, p_shift=1)
    x = _tone()
    a, b, c = aug(x, 5), aug(x, 5), aug(x, 6)
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a, A.Augment(seed=4, p_noise=1)(x, 5))


def test_mix_at_snr():
    x, rng = _tone(), np.random.default_rng(0)
    noise = A.colored_noise(x.size, "pink", rng)
    mixed = A.mix_at_snr(x, noise, 10.0)
    snr = 10 * np.log10(np.mean(x ** 2) / np.mean((mixed - x) ** 2))
    assert abs(snr - 10.0) < 0.01


def test_colored_noise_slopes():
    rng = np.random.default_rng(0)
    for color, more_low in (("white", False), ("brown", True)):
        spec = np.abs(np.fft.rfft(A.colored_noise(SAMPLE_RATE, color, rng))) ** 2
        low, high = spec[10:500].mean(), spec[4000:8000].mean()
        assert (low > 10 * high) == more_low


def test_telephone_removes_high_band():
    x = _tone(freq=5000.0) + _tone(freq=1000.0)
    y = A.telephone(x)
    spec = np.abs(np.fft.rfft(y))
    assert y.shape == x.shape and spec[5000] < 0.01 * spec[1000]


def test_room_impulse_response_decays():
    rir = A.room_impulse_response(np.random.default_rng(1))
    assert rir[0] == 1.0 and 0.05 * SAMPLE_RATE < rir.size < 2 * SAMPLE_RATE
    third = rir.size // 3
    assert np.sum(rir[:third] ** 2) > np.sum(rir[-third:] ** 2)
    assert A.reverb(_tone(), np.random.default_rng(1)).shape == (SAMPLE_RATE,)


def test_speed_shift_and_fit():
    x = _tone()
    assert abs(A.change_speed(x, 1.25).size - 0.8 * x.size) <= 2
    shifted = A.time_shift(x, np.random.default_rng(0), 0.1)
    assert shifted.shape == x.shape
    assert A.fit_length(x, 8000).size == 8000 and A.fit_length(x, 20000).size == 20000


def test_spec_augment_masks_numpy_and_torch():
    spec = np.ones((40, 100), np.float32)
    out = A.spec_augment(spec, np.random.default_rng(0), freq_width=10, time_width=20, value=0.0)
    assert spec.min() == 1.0 and out.min() == 0.0 and out.shape == spec.shape
    t = A.spec_augment(torch.ones(2, 40, 100), np.random.default_rng(0), value=0.0)
    assert isinstance(t, torch.Tensor) and t.shape == (2, 40, 100)
    assert np.array_equal(out, A.spec_augment(spec, np.random.default_rng(0), freq_width=10, time_width=20,
                                              value=0.0))

"""On-the-fly augmentation for training: noise at an SNR, room reverb, gain, telephone band,
speed and pitch, time shift and SpecAugment masks.

Every function takes a ``numpy.random.Generator``; :class:`Augment` seeds one per
(seed, epoch, item), so an epoch is the same whatever the data-loader workers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..audio import SAMPLE_RATE
from .build import item_rng

NOISE_COLORS = ("white", "pink", "brown")
SPEED_OF_SOUND = 343.0


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f²) noise with unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / max(n, 1))
    spectrum *= {"white": 1.0, "pink": 1 / np.sqrt(f), "brown": 1 / f}[color]
    noise = np.fft.irfft(spectrum, n)
    return (noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)).astype(np.float32)


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal`` plus ``noise`` (tiled or cut to length) scaled to the given SNR."""
    if noise.size < signal.size:
        noise = np.tile(noise, int(np.ceil(signal.size / max(noise.size, 1))))
    noise = noise[: signal.size]
    p_signal = np.mean(signal.astype(np.float64) ** 2)
    p_noise = np.mean(noise.astype(np.float64) ** 2) + 1e-12
    scale = np.sqrt(p_signal / p_noise / 10 ** (snr_db / 10)) if p_signal > 0 else 0.0
    return (signal + scale * noise).astype(np.float32)


def add_noise(audio: np.ndarray, rng: np.random.Generator, noises: Sequence[np.ndarray] = (),
              snr_db: tuple[float, float] = (0.0, 30.0)) -> np.ndarray:
    """Mix a random excerpt of one of ``noises`` (or colored noise when none) at a random SNR."""
    if noises:
        source = noises[rng.integers(len(noises))]
        start = int(rng.integers(max(source.size - audio.size, 0) + 1))
        noise = source[start: start + audio.size]
    else:
        noise = colored_noise(audio.size, NOISE_COLORS[rng.integers(len(NOISE_COLORS))], rng)
    return mix_at_snr(audio, noise, float(rng.uniform(*snr_db)))


def room_impulse_response(rng: np.random.Generator, sr: int = SAMPLE_RATE, max_order: int = 10) -> np.ndarray:
    """Impulse response of a random shoebox room by the image-source method (Allen & Berkley)."""
    room = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
    source, mic = (rng.uniform(0.5, room - 0.5) for _ in range(2))
    absorption = rng.uniform(0.15, 0.6)
    beta = np.sqrt(1 - absorption)  # pressure reflection coefficient of every wall
    n = np.arange(-max_order, max_order + 1)
    # Images along one axis: mirror parity p and room index k give (1-2p)*s + 2kL, after |k-p|+|k| bounces.
    axes = []
    for d in range(3):
        k, p = np.meshgrid(n, [0, 1], indexing="ij")
        axes.append((((1 - 2 * p) * source[d] + 2 * k * room[d]).ravel(), (np.abs(k - p) + np.abs(k)).ravel()))
    x, y, z = np.meshgrid(axes[0][0], axes[1][0], axes[2][0], indexing="ij")
    bounces = sum(np.meshgrid(axes[0][1], axes[1][1], axes[2][1], indexing="ij"))
    dist = np.sqrt((x - mic[0]) ** 2 + (y - mic[1]) ** 2 + (z - mic[2]) ** 2).ravel()
    gain = (beta ** bounces.ravel()) / np.maximum(dist, 0.1)
    delay = np.round(dist / SPEED_OF_SOUND * sr).astype(int)
    keep = gain > 1e-4 * gain.max()
    rir = np.zeros(delay[keep].max() + 1)
    np.add.at(rir, delay[keep], gain[keep])
    rir = rir[delay.min():]  # start at the direct sound: reverb adds no latency
    return (rir / np.abs(rir).max()).astype(np.float32)


def reverb(audio: np.ndarray, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Convolve with a random room, keeping the length and the peak level."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(audio, room_impulse_response(rng, sr))[: audio.size]
    peak_in, peak_out = np.abs(audio).max(initial=0), np.abs(wet).max(initial=0)
    return (wet * (peak_in / peak_out if peak_out > 0 else 0.0)).astype(np.float32)


def gain(audio: np.ndarray, rng: np.random.Generator, db: tuple[float, float] = (-12.0, 6.0)) -> np.ndarray:
    return np.clip(audio * 10 ** (rng.uniform(*db) / 20), -1.0, 1.0).astype(np.float32)


def telephone(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Telephone channel: 300–3400 Hz band through an 8 kHz round trip."""
    import soxr
    from scipy.signal import butter, sosfilt

    narrow = soxr.resample(audio, sr, 8000)
    narrow = sosfilt(butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos"), narrow)
    out = soxr.resample(narrow, 8000, sr)
    out = np.pad(out, (0, max(audio.size - out.size, 0)))[: audio.size]
    return out.astype(np.float32)


def change_speed(audio: np.ndarray, factor: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Play ``factor`` times faster (pitch moves with it, as on tape)."""
    import soxr

    return soxr.resample(audio, sr * factor, sr).astype(np.float32)


def shift_pitch(audio: np.ndarray, semitones: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Shift pitch, keeping the duration."""
    import librosa

    return librosa.effects.pitch_shift(audio, sr=sr, n_steps=semitones).astype(np.float32)


def time_shift(audio: np.ndarray, rng: np.random.Generator, max_seconds: float = 0.1,
               sr: int = SAMPLE_RATE) -> np.ndarray:
    """Move the audio by up to ``max_seconds`` either way, filling with silence."""
    shift = int(rng.integers(-int(max_seconds * sr), int(max_seconds * sr) + 1))
    out = np.zeros_like(audio)
    if shift >= 0:
        out[shift:] = audio[: audio.size - shift]
    else:
        out[:shift] = audio[-shift:]
    return out


def spec_augment(spec, rng: np.random.Generator, freq_masks: int = 2, freq_width: int = 8,
                 time_masks: int = 2, time_width: int = 10, value: float | None = None):
    """SpecAugment frequency and time masks on a (..., n_mels, frames) numpy array or torch tensor.

    Masks are filled with ``value``, by default the spectrogram's mean. Returns a masked copy.
    """
    out = spec.clone() if hasattr(spec, "clone") else np.array(spec, copy=True)
    fill = float(out.mean()) if value is None else value
    n_mels, frames = out.shape[-2], out.shape[-1]
    for size, width, count in ((n_mels, freq_width, freq_masks), (frames, time_width, time_masks)):
        for _ in range(count):
            w = int(rng.integers(0, min(width, size) + 1))
            start = int(rng.integers(0, size - w + 1))
            if size == n_mels:
                out[..., start: start + w, :] = fill
            else:
                out[..., start: start + w] = fill
    return out


@dataclass
class Augment:
    """A random chain of waveform augmentations, deterministic under (seed, epoch, item)."""

    seed: int = 0
    epoch: int = 0
    noises: Sequence[np.ndarray] = ()  # e.g. Speech Commands' _background_noise_; colored noise if empty
    p_noise: float = 0.8
    snr_db: tuple[float, float] = (0.0, 30.0)
    p_reverb: float = 0.3
    p_gain: float = 0.8
    p_telephone: float = 0.1
    p_speed: float = 0.3
    speed: tuple[float, float] = (0.9, 1.1)
    p_pitch: float = 0.0  # librosa's pitch shift costs ~20 ms a clip; off unless asked
    semitones: tuple[float, float] = (-2.0, 2.0)
    p_shift: float = 0.5
    max_shift: float = 0.1
    sample_rate: int = SAMPLE_RATE

    def __call__(self, audio: np.ndarray, key: object = 0) -> np.ndarray:
        """Augment one clip; ``key`` (the item index) picks its random stream. Keeps the length."""
        return self.apply(audio, item_rng(self.seed, self.epoch, key))

    def apply(self, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sr, n = self.sample_rate, audio.size
        out = np.asarray(audio, dtype=np.float32)
        if rng.random() < self.p_speed:
            out = fit_length(change_speed(out, float(rng.uniform(*self.speed)), sr), n)
        if rng.random() < self.p_pitch:
            out = shift_pitch(out, float(rng.uniform(*self.semitones)), sr)
        if rng.random() < self.p_shift:
            out = time_shift(out, rng, self.max_shift, sr)
        if rng.random() < self.p_reverb:
            out = reverb(out, rng, sr)
        if rng.random() < self.p_telephone:
            out = telephone(out, sr)
        if rng.random() < self.p_noise:
            out = add_noise(out, rng, self.noises, self.snr_db)
        if rng.random() < self.p_gain:
            out = gain(out, rng)
        return np.clip(out, -1.0, 1.0).astype(np.float32)


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to ``n`` samples, keeping the middle."""
    if audio.size >= n:
        start = (audio.size - n) // 2
        return audio[start: start + n]
    pad = n - audio.size
    return np.pad(audio, (pad // 2, pad - pad // 2))

"""Inference entry points shared by the app and the CLI: file or array in, small result out."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .audio import MEL_SPECS, SAMPLE_RATE, Source, is_silent, load


@dataclass
class AudioSummary:
    """What the front end sees in a recording, before any model runs."""

    duration: float  # seconds, at SAMPLE_RATE
    peak_dbfs: float
    rms_dbfs: float
    silent: bool

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _dbfs(value: float) -> float:
    return float(20 * np.log10(max(value, 1e-10)))


def summarize(audio: np.ndarray) -> AudioSummary:
    """Level and length of mono audio at SAMPLE_RATE."""
    return AudioSummary(
        duration=audio.size / SAMPLE_RATE,
        peak_dbfs=_dbfs(float(np.max(np.abs(audio)))),
        rms_dbfs=_dbfs(float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))),
        silent=is_silent(audio),
    )


def describe(source: Source, orig_sr: int | None = None) -> AudioSummary:
    """Load any supported input and summarize it; raises AudioError on bad input."""
    return summarize(load(source, orig_sr=orig_sr))


def log_mel(audio: np.ndarray, family: str = "kws") -> np.ndarray:
    """Log-mel spectrogram (n_mels, frames) of mono audio with one model family's front end."""
    import torch

    from .features import LogMel

    with torch.no_grad():
        return LogMel(MEL_SPECS[family])(torch.from_numpy(audio)).numpy()


def spectrogram(source: Source, family: str = "kws") -> tuple[AudioSummary, np.ndarray]:
    """Load any supported input -> (summary, log-mel of the family's front end)."""
    audio = load(source)
    return summarize(audio), log_mel(audio, family)

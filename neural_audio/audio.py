"""Audio constants and loading: any file or array -> mono float32 at the model rate.

Every failure raises :class:`AudioError` with a message meant for a person.
Only numpy, soundfile and soxr are imported here, so loading stays cheap.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
# Ten minutes is far beyond any demo clip but still decodes in well under a second.
MAX_SECONDS = float(os.environ.get("NEURAL_AUDIO_MAX_SECONDS", 600))
SILENCE_DBFS = -60.0

# Formats libsndfile cannot read, which ffmpeg decodes when it is installed.
FFMPEG_FORMATS = {".webm", ".m4a", ".mp4", ".aac", ".wma", ".amr", ".3gp", ".mkv", ".mov", ".opus"}


@dataclass(frozen=True)
class MelSpec:
    """Front-end settings of one model family; saved in each checkpoint's config."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float | None = None  # None means sample_rate / 2
    log_floor: float = 1e-5

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length


# One place for the front end of every model family.
MEL_SPECS: dict[str, MelSpec] = {
    # 25 ms windows at 10 ms hop: the usual speech-recognition front end.
    "kws": MelSpec(n_fft=400, hop_length=160, n_mels=40),
    "ctc": MelSpec(n_fft=400, hop_length=160, n_mels=80),
    # 64 ms windows at 20 ms hop, 64 bands up to 8 kHz, as in PANNs at 16 kHz.
    "tagger": MelSpec(n_fft=1024, hop_length=320, n_mels=64, fmin=50.0),
    # Synthesis families need finer frequency detail for the Griffin-Lim inverse.
    "gan": MelSpec(n_fft=1024, hop_length=256, n_mels=80, fmin=0.0),
    "vae": MelSpec(n_fft=1024, hop_length=256, n_mels=80, fmin=0.0),
}


class AudioError(ValueError):
    """Input that cannot be used as audio; the message says why in plain words."""


Source = Union[str, os.PathLike, bytes, np.ndarray]


def load(
    source: Source,
    sr: int = SAMPLE_RATE,
    *,
    orig_sr: int | None = None,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Load a file path, raw file bytes or a sample array as mono float32 in [-1, 1] at ``sr``.

    ``orig_sr`` is required for arrays (shape ``(n,)`` or ``(n, channels)``).
    ``max_seconds`` defaults to ``MAX_SECONDS``.
    """
    limit = MAX_SECONDS if max_seconds is None else max_seconds
    if isinstance(source, np.ndarray):
        if orig_sr is None:
            raise AudioError("An audio array needs its sample rate (orig_sr).")
        name, data, rate = "audio array", _to_float(source), int(orig_sr)
    elif isinstance(source, (bytes, bytearray)):
        name = "uploaded audio"
        data, rate = _read_bytes(bytes(source), name, limit)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = f"'{path.name}'"
        data, rate = _read_path(path, name, limit)
    else:
        raise AudioError(f"Expected a file path or audio array, got {type(source).__name__}.")
    return _finish(data, rate, sr, name, limit)


def pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] (clipped beyond) as 16-bit PCM, as players and WAV files take it."""
    return (np.clip(audio, -1.0, 1.0) * 32767).round().astype(np.int16)


def loud_span(audio: np.ndarray, top_db: float = 40.0, frame: int = 320, hop: int = 160,
              floor: float = 1e-4) -> tuple[int, int] | None:
    """Samples [start, end) from the first to the last frame whose RMS is within ``top_db`` of the
    loudest frame's (frames of ``frame`` samples every ``hop``). None when no frame's RMS exceeds
    ``floor``; the whole clip when it is shorter than one frame."""
    if audio.size < frame:
        return 0, audio.size
    n = 1 + (audio.size - frame) // hop
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame)[::hop][:n]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > max(rms.max() * 10 ** (-top_db / 20), floor))
    if loud.size == 0:
        return None
    return int(loud[0] * hop), int(loud[-1] * hop + frame)


def is_silent(audio: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when the peak level of ``audio`` is below ``threshold_dbfs``."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return peak <= 10 ** (threshold_dbfs / 20)


def save(path: str | os.PathLike, audio: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    """Write mono float audio as 16-bit PCM WAV."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(audio, -1.0, 1.0), sr, subtype="PCM_16")
    return path


def _read_path(path: Path, name: str, limit: float) -> tuple[np.ndarray, int]:
    if not path.exists():
        raise AudioError(f"File {name} does not exist.")
    if path.is_dir():
        raise AudioError(f"{name} is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise AudioError(f"File {name} is empty (0 bytes).")
    try:
        return _read_soundfile(path, name, limit)
    except _NotSoundfile as exc:
        return _read_ffmpeg(path, name, limit, reason=str(exc))


def _read_bytes(blob: bytes, name: str, limit: float) -> tuple[np.ndarray, int]:
    if not blob:
        raise AudioError("The uploaded audio is empty (0 bytes).")
    try:
        return _read_soundfile(io.BytesIO(blob), name, limit)
    except _NotSoundfile as exc:
        return _read_ffmpeg(blob, name, limit, reason=str(exc))


class _NotSoundfile(Exception):
    pass


def _read_soundfile(file, name: str, limit: float) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        with sf.SoundFile(file) as f:
            rate, frames = f.samplerate, f.frames
            _check_rate(rate, name)
            if frames > 0 and frames / rate > limit:
                raise _too_long(name, frames / rate, limit)
            data = f.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # libsndfile reports corrupt and unknown files alike
        raise _NotSoundfile(str(exc).strip() or type(exc).__name__) from exc
    return data, rate


def ffmpeg_path() -> str | None:
    return shutil.which("ffmpeg")


def _read_ffmpeg(source: Path | bytes, name: str, limit: float, reason: str) -> tuple[np.ndarray, int]:
    suffix = source.suffix.lower() if isinstance(source, Path) else ""
    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        if suffix in FFMPEG_FORMATS:
            raise AudioError(
                f"{name} is {suffix[1:]} audio, which needs ffmpeg to decode, and ffmpeg is not installed "
                "(Debian/Ubuntu: apt-get install ffmpeg). WAV, FLAC, OGG and MP3 work without it."
            )
        raise AudioError(f"{name} is not a readable audio file ({reason}).")
    # Decode at a fixed rate in 32-bit float; stereo kept so downmixing happens in one place.
    rate = 48000
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", "pipe:0" if isinstance(source, bytes) else str(source),
           "-t", f"{limit + 1:.3f}", "-vn", "-f", "f32le", "-ac", "2", "-ar", str(rate), "pipe:1"]
    try:
        proc = subprocess.run(cmd, input=source if isinstance(source, bytes) else None,
                              capture_output=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"Decoding {name} with ffmpeg took too long.") from exc
    if proc.returncode != 0 or not proc.stdout:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else "it holds no audio stream"
        # ffmpeg prefixes errors with the input path, which may be a server-side temp file.
        detail = detail.replace(f"{source}: ", "") if isinstance(source, Path) else detail
        raise AudioError(f"{name} is not a readable audio file ({detail}).")
    data = np.frombuffer(proc.stdout, dtype="<f4").reshape(-1, 2)
    if len(data) / rate > limit:
        raise _too_long(name, len(data) / rate, limit)
    return data, rate


def _to_float(array: np.ndarray) -> np.ndarray:
    """Integer PCM of any width -> float in [-1, 1); float passes through."""
    a = np.asarray(array)
    if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
        raise AudioError(f"Audio samples must be numbers, got dtype {a.dtype}.")
    if a.ndim not in (1, 2):
        raise AudioError(f"Audio arrays must be 1-D (samples) or 2-D (samples, channels), got shape {a.shape}.")
    if a.ndim == 2 and a.shape[0] < a.shape[1] and a.shape[0] <= 64:
        a = a.T  # (channels, samples) as torch and librosa lay it out
    if a.dtype.kind == "i":
        return a.astype(np.float32) / float(2 ** (8 * a.dtype.itemsize - 1))
    if a.dtype.kind == "u":
        half = 2 ** (8 * a.dtype.itemsize - 1)
        return (a.astype(np.float64) - half).astype(np.float32) / float(half)
    return a.astype(np.float32, copy=False)


def _check_rate(rate: int, name: str) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{name} has a sample rate of {rate} Hz; supported rates are "
            f"{MIN_SAMPLE_RATE // 1000}–{MAX_SAMPLE_RATE // 1000} kHz."
        )


def _too_long(name: str, seconds: float, limit: float) -> AudioError:
    return AudioError(f"{name} is {seconds:.1f} s long; the limit is {limit:g} s. Trim it and try again.")


def _finish(data: np.ndarray, rate: int, sr: int, name: str, limit: float) -> np.ndarray:
    _check_rate(rate, name)
    mono = data if data.ndim == 1 else data.mean(axis=1, dtype=np.float64)
    if mono.size == 0:
        raise AudioError(f"{name} holds no samples (zero length).")
    if mono.size / rate > limit:
        raise _too_long(name, mono.size / rate, limit)
    finite = np.isfinite(mono)
    if not finite.all():
        what = "only NaN or infinite values" if not finite.any() else f"{(~finite).sum()} NaN or infinite samples"
        raise AudioError(f"{name} contains {what}; it is not valid audio.")
    mono = mono.astype(np.float32, copy=False)
    peak = float(np.max(np.abs(mono)))
    if peak > 1.0:
        log.warning("%s peaks at %.2f, above full scale; scaling it into [-1, 1].", name, peak)
        mono = mono / peak
    if rate != sr:
        import soxr

        mono = soxr.resample(mono, rate, sr, quality="HQ").astype(np.float32, copy=False)
        if mono.size == 0:
            raise AudioError(f"{name} is too short to resample to {sr} Hz.")
    return np.clip(mono, -1.0, 1.0)

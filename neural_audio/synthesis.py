"""VAE inference shared by the app and the CLI: encode, reconstruct, interpolate, morph, sample.

Every function takes audio as a path, bytes or array (see :func:`neural_audio.audio.load`) and
returns a :class:`Synthesis`: the waveform, its log-mel and the latent trajectory behind it. Mel
frames become audio through the project's fast Griffin-Lim (:class:`~neural_audio.features.MelInverse`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE, MelSpec, Source, load, pcm16

MODES = ("linear", "spherical")


@dataclass
class Synthesis:
    """A waveform made by the VAE, with the log-mel it was rendered from and the latents behind it."""

    audio: np.ndarray  # (samples,) float32 at SAMPLE_RATE
    log_mel: np.ndarray  # (n_mels, frames), the decoder's output
    latents: np.ndarray  # (steps, latent_dim)

    @property
    def duration(self) -> float:
        return self.audio.size / SAMPLE_RATE

    def pcm16(self) -> np.ndarray:
        """The audio as 16-bit PCM, as players and WAV files take it."""
        return pcm16(self.audio)


@dataclass
class Encoding:
    """The posterior of one recording: its mean latent trajectory and what the decoder needs to undo it."""

    latents: np.ndarray  # (steps, latent_dim) posterior means
    log_mel: np.ndarray  # (n_mels, frames) of the input
    samples: int  # input length, so a reconstruction has the same length

    @property
    def frames(self) -> int:
        return self.log_mel.shape[1]


def _model(model=None):
    from .hub import cached_model

    return model or cached_model("vae-mel")


def _inverse(spec: MelSpec):
    from .features import mel_inverse

    return mel_inverse(spec)


def encode(source: Source, *, orig_sr: int | None = None, model=None) -> Encoding:
    """Posterior-mean latent trajectory of a recording (one vector per ``model.stride`` mel frames)."""
    import torch

    model = _model(model)
    audio = load(source, orig_sr=orig_sr)
    with torch.no_grad():
        mel = model.front(torch.from_numpy(audio))
        mean, _ = model.encode(mel[None])
    return Encoding(mean[0].T.numpy(), mel.numpy(), audio.size)


def decode(latents: np.ndarray, frames: int, samples: int, *, model=None) -> Synthesis:
    """Latents (steps, latent_dim) -> log-mel of ``frames`` frames -> ``samples`` of audio."""
    import torch

    model = _model(model)
    with torch.no_grad():
        mel = model.decode(torch.from_numpy(np.ascontiguousarray(latents.T, dtype=np.float32))[None], frames)
        audio = _inverse(model.mel_spec)(mel, samples)[0]
    return Synthesis(audio.numpy(), mel[0].numpy(), latents)


def reconstruct(source: Source, *, orig_sr: int | None = None, model=None) -> Synthesis:
    """Encode a recording and decode it again: what the VAE keeps of it."""
    model = _model(model)
    enc = encode(source, orig_sr=orig_sr, model=model)
    return decode(enc.latents, enc.frames, enc.samples, model=model)


def resample_steps(latents: np.ndarray, steps: int) -> np.ndarray:
    """Stretch a latent trajectory (steps, dim) to ``steps`` steps by linear interpolation in time."""
    if len(latents) == steps:
        return latents
    if len(latents) == 1:
        return np.repeat(latents, steps, axis=0)
    where = np.linspace(0, len(latents) - 1, steps)
    low = np.floor(where).astype(int).clip(max=len(latents) - 2)
    frac = (where - low)[:, None]
    return ((1 - frac) * latents[low] + frac * latents[low + 1]).astype(np.float32)


def mix(a: np.ndarray, b: np.ndarray, alpha: np.ndarray | float, mode: str = "linear") -> np.ndarray:
    """Per-step blend of two aligned trajectories (steps, dim); ``alpha`` scalar or one value per step.

    ``spherical`` interpolates each step's pair of vectors along the great circle (slerp, with the
    norms interpolated linearly), which keeps the blend as far from the origin as its ends are:
    under a Gaussian prior the linear midpoint of two typical latents is atypically short.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64).reshape(-1, 1), (len(a), 1))
    if mode == "linear":
        return ((1 - alpha) * a + alpha * b).astype(np.float32)
    na, nb = np.linalg.norm(a, axis=1, keepdims=True), np.linalg.norm(b, axis=1, keepdims=True)
    ua, ub = a / np.maximum(na, 1e-12), b / np.maximum(nb, 1e-12)
    omega = np.arccos(np.clip(np.sum(ua * ub, axis=1, keepdims=True), -1.0, 1.0))
    sin = np.sin(omega)
    safe = sin > 1e-6  # nearly parallel vectors: the linear blend is the limit
    wa = np.where(safe, np.sin((1 - alpha) * omega) / np.where(safe, sin, 1), 1 - alpha)
    wb = np.where(safe, np.sin(alpha * omega) / np.where(safe, sin, 1), alpha)
    blend = (wa * ua + wb * ub) * ((1 - alpha) * na + alpha * nb)
    # Exact ends: normalising and rescaling would leave rounding noise that Griffin-Lim amplifies.
    return np.where(alpha == 0, a, np.where(alpha == 1, b, blend)).astype(np.float32)


def _lerp_int(a: int, b: int, alpha: float) -> int:
    return int(round((1 - alpha) * a + alpha * b))


def interpolate(a: Encoding, b: Encoding, alpha: float, mode: str = "linear", *, model=None) -> Synthesis:
    """The sound ``alpha`` of the way from A to B in latent space.

    The two trajectories are stretched to a common length, which itself moves from A's length
    (alpha 0) to B's (alpha 1), so the ends are exactly the reconstructions of A and B.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    steps = max(1, _lerp_int(len(a.latents), len(b.latents), alpha))
    z = mix(resample_steps(a.latents, steps), resample_steps(b.latents, steps), alpha, mode)
    return decode(z, _lerp_int(a.frames, b.frames, alpha), _lerp_int(a.samples, b.samples, alpha), model=model)


def morph(a: Encoding, b: Encoding, mode: str = "linear", *, model=None) -> Synthesis:
    """One sound that turns from A into B: alpha sweeps 0 -> 1 over the longer of the two lengths."""
    longer = a if a.samples >= b.samples else b
    steps = len(longer.latents)
    z = mix(resample_steps(a.latents, steps), resample_steps(b.latents, steps), np.linspace(0, 1, steps), mode)
    return decode(z, longer.frames, longer.samples, model=model)


def sample(seconds: float = 2.0, temperature: float = 1.0, seed: int = 0, *, model=None) -> Synthesis:
    """Decode latents drawn from the prior N(0, temperature^2 I), independently at every step."""
    if not 0.1 <= seconds <= 30.0:
        raise ValueError(f"seconds must be between 0.1 and 30, got {seconds}")
    if not 0.0 <= temperature <= 3.0:
        raise ValueError(f"temperature must be between 0 and 3, got {temperature}")
    model = _model(model)
    samples = int(round(seconds * SAMPLE_RATE))
    frames = samples // model.mel_spec.hop_length + 1
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((model.latent_frames(frames), model.latent_dim)) * temperature).astype(np.float32)
    return decode(z, frames, samples, model=model)


def pca_2d(*trajectories: np.ndarray) -> list[np.ndarray]:
    """Project latent trajectories (steps, dim) onto the two main axes of all their steps together."""
    stacked = np.concatenate(trajectories).astype(np.float64)
    centred = stacked - stacked.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2].T if vt.shape[0] >= 2 else np.pad(vt.T, ((0, 0), (0, 1)))
    projected = (centred @ axes).astype(np.float32)
    return np.split(projected, np.cumsum([len(t) for t in trajectories])[:-1])

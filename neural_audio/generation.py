"""GAN inference shared by the app and the CLI: spoken digits from noise, and walks between seeds.

A seed fixes the noise vector, so ``generate("seven", seed=3)`` always gives the same clip, and
``label="random"`` draws the digit from the same seed. Each clip is rendered on its own (the
generator, then the mel inverse), so a clip never depends on what else is in the request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE, pcm16

RANDOM = "random"
MAX_CLIPS = 64
MAX_STEPS = 32
MAX_SEED = 2**63 - 1


@dataclass
class GeneratedDigit:
    """One generated clip: the waveform, the log-mel it was rendered from, and what made it."""

    audio: np.ndarray  # (16000,) float32 at SAMPLE_RATE
    log_mel: np.ndarray  # (n_mels, frames), the generator's output
    label: str
    seed: int | None  # None for the inner steps of a latent walk

    @property
    def duration(self) -> float:
        return self.audio.size / SAMPLE_RATE

    def pcm16(self) -> np.ndarray:
        """The audio as 16-bit PCM, as players and WAV files take it."""
        return pcm16(self.audio)


def _model(model=None):
    from .hub import cached_model

    return model or cached_model("gan-digits")


def _check_seed(seed: int, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return int(seed)


def resolve_label(label: str, seed: int, labels: list[str]) -> str:
    """A digit name (or its numeral) as the model spells it; ``random`` picks one from ``seed``."""
    name = str(label).strip().lower()
    if name == RANDOM:
        return labels[int(np.random.default_rng(seed).integers(len(labels)))]
    if name.isdigit() and int(name) < len(labels):
        return labels[int(name)]
    if name not in labels:
        raise ValueError(f"Unknown digit {label!r}: choose one of {', '.join(labels)} or {RANDOM}.")
    return name


def noise(seed: int, z_dim: int) -> np.ndarray:
    """The generator's input for one seed: a standard normal vector, the same on every machine."""
    import torch

    return torch.randn(z_dim, generator=torch.Generator().manual_seed(_check_seed(seed))).numpy()


def render(z: np.ndarray, label: str, seed: int | None = None, *, model=None) -> GeneratedDigit:
    """Noise vector (z_dim,) and digit name -> log-mel -> one second of audio (mel inverse)."""
    import torch

    from .features import mel_inverse
    from .models.gan import CLIP_SAMPLES

    model = _model(model)
    with torch.no_grad():
        mel = model(torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))[None],
                    torch.tensor([model.labels.index(label)]))
        audio = mel_inverse(model.mel_spec)(mel, CLIP_SAMPLES)[0]
    return GeneratedDigit(audio.numpy(), mel[0].numpy(), label, seed)


def generate(label: str = RANDOM, n: int = 1, seed: int = 0, *, model=None) -> list[GeneratedDigit]:
    """``n`` clips of one digit (or ``random`` digits), clip i from seed ``seed + i``."""
    model = _model(model)
    seed = _check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_CLIPS:
        raise ValueError(f"n must be a whole number from 1 to {MAX_CLIPS}, got {n!r}")
    _check_seed(seed + n - 1, "the last seed (seed + n - 1)")
    resolve_label(label, seed, model.labels)  # a bad label fails before any work
    return [render(noise(s, model.z_dim), resolve_label(label, s, model.labels), s, model=model)
            for s in range(seed, seed + n)]


def slerp(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Spherical interpolation between two noise vectors; exactly ``a`` at 0 and ``b`` at 1.

    The linear midpoint of two Gaussian vectors is atypically short (White, 2016); slerp keeps the
    walk at the norm the generator was trained on."""
    if alpha == 0.0:
        return a
    if alpha == 1.0:
        return b
    omega = np.arccos(np.clip(np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b)), -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return ((1 - alpha) * a + alpha * b).astype(np.float32)
    return ((np.sin((1 - alpha) * omega) * a + np.sin(alpha * omega) * b) / np.sin(omega)).astype(np.float32)


def latent_walk(label: str, seed_a: int, seed_b: int, steps: int = 5, *, model=None) -> list[GeneratedDigit]:
    """``steps`` clips of one digit from seed A's noise to seed B's; the ends equal ``generate``'s clips.

    With ``random``, the digit is the one seed A draws."""
    model = _model(model)
    seed_a, seed_b = _check_seed(seed_a, "seed A"), _check_seed(seed_b, "seed B")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 2 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 2 to {MAX_STEPS} (both ends included), got {steps!r}")
    digit = resolve_label(label, seed_a, model.labels)
    a, b = noise(seed_a, model.z_dim), noise(seed_b, model.z_dim)
    alphas = np.linspace(0.0, 1.0, steps)
    seeds = [seed_a] + [None] * (steps - 2) + [seed_b]
    return [render(slerp(a, b, float(alpha)), digit, s, model=model) for alpha, s in zip(alphas, seeds)]

"""MelVAE: log-mel frames -> a sequence of Gaussian latents over time -> log-mel frames.

Fully convolutional in time, so any length goes in and the same length comes out; one latent
vector per ``stride`` mel frames (RAVE-like rates of tens of vectors per second).
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from ..audio import MEL_SPECS, MelSpec
from ..features import LogMel


class _FrameNorm(nn.Module):
    """Layer norm over channels, frame by frame: unlike batch or group norm it never mixes time steps,
    so a frame's output does not depend on how long the clip is."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class _ResBlock(nn.Module):
    """Pre-norm residual block: a dilated temporal convolution, then a 1x1 mix."""

    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            _FrameNorm(channels), nn.GELU(),
            nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation),
            nn.GELU(), nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _stack(channels: int, kernel: int, dilations: tuple[int, ...]) -> nn.Sequential:
    return nn.Sequential(*(_ResBlock(channels, kernel, d) for d in dilations))


class MelVAE(nn.Module, PyTorchModelHubMixin):
    """Log-mel (batch, n_mels, frames) <-> latents (batch, latent_dim, ceil(frames / stride)).

    ``mel_mean`` and ``mel_std`` standardise log-mel levels (measured on the training data and saved
    in the config); the decoder predicts log-mel in the same units as the input.
    """

    def __init__(self, latent_dim: int = 32, channels: int = 192, kernel: int = 5, stride: int = 2,
                 dilations: tuple[int, ...] = (1, 3), mel_mean: float = -6.0, mel_std: float = 3.0,
                 mel: dict | None = None):
        super().__init__()
        self.mel_spec = MelSpec(**mel) if mel else MEL_SPECS["vae"]
        self.front = LogMel(self.mel_spec)
        self.latent_dim, self.stride, self.mel_mean, self.mel_std = latent_dim, stride, mel_mean, mel_std
        n_mels, dilations = self.mel_spec.n_mels, tuple(dilations)
        self.encoder = nn.Sequential(
            nn.Conv1d(n_mels, channels, kernel, padding=kernel // 2), _stack(channels, kernel, dilations),
            nn.Conv1d(channels, channels, 2 * stride, stride, padding=stride // 2), _stack(channels, kernel, dilations),
            _FrameNorm(channels), nn.GELU(), nn.Conv1d(channels, 2 * latent_dim, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv1d(latent_dim, channels, 3, padding=1), _stack(channels, kernel, dilations),
            nn.ConvTranspose1d(channels, channels, 2 * stride, stride, padding=stride // 2),
            _stack(channels, kernel, dilations),
            _FrameNorm(channels), nn.GELU(), nn.Conv1d(channels, n_mels, kernel, padding=kernel // 2),
        )
        self._hub_mixin_config = {"latent_dim": latent_dim, "channels": channels, "kernel": kernel, "stride": stride,
                                  "dilations": list(dilations), "mel_mean": mel_mean, "mel_std": mel_std,
                                  "mel": asdict(self.mel_spec)}

    @property
    def frames_per_second(self) -> float:
        """Latent vectors per second of audio."""
        return self.mel_spec.frames_per_second / self.stride

    def latent_frames(self, mel_frames: int) -> int:
        return -(-mel_frames // self.stride)

    def encode(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel (batch, n_mels, frames) -> posterior mean and log-variance (batch, latent_dim, latent frames)."""
        frames = log_mel.shape[-1]
        x = (log_mel - self.mel_mean) / self.mel_std
        # Pad to a whole number of latent steps by repeating the last frame (a fade, not a click).
        x = F.pad(x, (0, self.latent_frames(frames) * self.stride - frames), mode="replicate")
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Latents (batch, latent_dim, steps) -> log-mel (batch, n_mels, frames or steps * stride)."""
        out = self.decoder(z) * self.mel_std + self.mel_mean
        if not self.training:  # no log-mel lies below the front end's floor; training keeps the gradient
            out = out.clamp_min(math.log(self.mel_spec.log_floor))
        return out if frames is None else out[..., :frames]

    def forward(self, log_mel: torch.Tensor, sample: bool = True):
        """Training pass: (reconstruction, mean, logvar); ``sample=False`` decodes the posterior mean."""
        mean, logvar = self.encode(log_mel)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
        return self.decode(z, log_mel.shape[-1]), mean, logvar


def kl_per_dim(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) in nats, per latent dimension and step: same shape as ``mean``."""
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar)

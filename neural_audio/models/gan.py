"""DigitGAN: a class-conditional SpecGAN over one-second log-mels (the SC09 task), and its critic.

Both networks convolve over time with the mel bands as channels (as the keyword CNN does): dense
1-D convolutions train several times faster on a CPU than the 2-D ones of the original SpecGAN.
The generator is conditioned by batch norm whose gains come from the digit and the noise (BigGAN
style), the discriminator by
projection (Miyato & Koyama, 2018) plus an auxiliary digit classifier. Only the generator ships.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..audio import MEL_SPECS, MelSpec
from ..decoding import DIGITS

CLIP_SAMPLES = 16000  # one second at 16 kHz, as in SC09


class _ConditionalNorm(nn.Module):
    """Batch norm whose gain and bias are predicted from a conditioning vector (de Vries et al., 2017;
    BigGAN feeds it the class embedding and the noise, so the noise shapes every layer)."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        for layer in (self.gain, self.bias):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * (1 + self.gain(cond).unsqueeze(-1)) + self.bias(cond).unsqueeze(-1)


class _UpBlock(nn.Module):
    """Residual block that doubles the frame rate (nearest-neighbour upsampling, then convolutions)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, cond_dim: int):
        super().__init__()
        self.norm1, self.norm2 = _ConditionalNorm(c_in, cond_dim), _ConditionalNorm(c_out, cond_dim)
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=kernel // 2)
        self.skip = nn.Conv1d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = F.interpolate(F.relu(self.norm1(x, cond)), scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), cond)))
        return h + self.skip(up)


class DigitGAN(nn.Module, PyTorchModelHubMixin):
    """Noise (batch, z_dim) and digit (batch,) -> log-mel (batch, n_mels, frames) of one second.

    ``mel_mean`` and ``mel_std`` (one value per mel band, measured on the training clips and saved
    in the config) map the network's standardised output back to log-mel units.
    """

    def __init__(self, labels: list[str] = DIGITS, z_dim: int = 128, channels: tuple[int, ...] = (256, 256, 192, 128),
                 kernel: int = 5, start_frames: int = 8, mel_mean: list[float] | None = None,
                 mel_std: list[float] | None = None, mel: dict | None = None):
        super().__init__()
        self.labels = list(labels)
        self.mel_spec = MelSpec(**mel) if mel else MEL_SPECS["gan"]
        n_mels, classes = self.mel_spec.n_mels, len(self.labels)
        self.z_dim, self.start_frames = z_dim, start_frames
        self.frames = CLIP_SAMPLES // self.mel_spec.hop_length + 1
        if start_frames * 2 ** (len(channels) - 1) < self.frames:
            raise ValueError(f"{len(channels) - 1} doublings of {start_frames} frames do not reach {self.frames}")
        self.register_buffer("mel_mean", torch.tensor(mel_mean or [-6.0] * n_mels).view(1, -1, 1))
        self.register_buffer("mel_std", torch.tensor(mel_std or [3.0] * n_mels).view(1, -1, 1))
        self.embed = nn.Embedding(classes, z_dim)
        self.fc = nn.Linear(2 * z_dim, channels[0] * start_frames)
        self.blocks = nn.ModuleList(_UpBlock(a, b, kernel, 2 * z_dim) for a, b in zip(channels, channels[1:]))
        self.out_norm = nn.BatchNorm1d(channels[-1])
        self.out = nn.Conv1d(channels[-1], n_mels, kernel, padding=kernel // 2)
        self._hub_mixin_config = {"labels": self.labels, "z_dim": z_dim, "channels": list(channels),
                                  "kernel": kernel, "start_frames": start_frames,
                                  "mel_mean": [round(float(v), 4) for v in self.mel_mean.flatten()],
                                  "mel_std": [round(float(v), 4) for v in self.mel_std.flatten()],
                                  "mel": asdict(self.mel_spec)}

    def forward_normalised(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """The standardised log-mel (batch, n_mels, frames) the discriminator sees."""
        cond = torch.cat([z, self.embed(label)], dim=1)
        h = self.fc(cond).view(len(z), -1, self.start_frames)
        for block in self.blocks:
            h = block(h, cond)
        return self.out(F.relu(self.out_norm(h)))[..., : self.frames]

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Log-mel in the front end's units; in eval mode within what audio in [-1, 1] can have."""
        mel = self.forward_normalised(z, label) * self.mel_std + self.mel_mean
        if not self.training:
            # Between the front end's floor and the power of a full-scale signal's STFT bin, (n_fft / 2)^2:
            # a rare outlier beyond that would overflow Griffin-Lim.
            mel = mel.clamp(math.log(self.mel_spec.log_floor), 2 * math.log(self.mel_spec.n_fft / 2))
        return mel

    def normalise(self, log_mel: torch.Tensor) -> torch.Tensor:
        return (log_mel - self.mel_mean) / self.mel_std


class _DownBlock(nn.Module):
    """Spectrally normalised residual block that halves the frame rate."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2))
        self.conv2 = spectral_norm(nn.Conv1d(c_out, c_out, kernel, padding=kernel // 2))
        self.skip = spectral_norm(nn.Conv1d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.leaky_relu(self.conv1(F.leaky_relu(x, 0.2)), 0.2))
        return F.avg_pool1d(h + self.skip(x), 2, ceil_mode=True)


class DigitCritic(nn.Module, PyTorchModelHubMixin):
    """Standardised log-mel (batch, n_mels, frames) and digit -> realness score, and digit logits.

    The score is ``psi(h) + <embed(label), h>`` (projection); the auxiliary logits come from the same
    pooled features ``h``. Spectral norm on every layer keeps the hinge objective stable.
    """

    def __init__(self, n_mels: int = 80, classes: int = 10, channels: tuple[int, ...] = (128, 256, 256, 384),
                 kernel: int = 5):
        super().__init__()
        self.stem = spectral_norm(nn.Conv1d(n_mels, channels[0], kernel, padding=kernel // 2))
        self.blocks = nn.Sequential(*(_DownBlock(a, b, kernel) for a, b in zip(channels, channels[1:])))
        self.score = spectral_norm(nn.Linear(channels[-1], 1))
        self.project = spectral_norm(nn.Embedding(classes, channels[-1]))
        self.classify = spectral_norm(nn.Linear(channels[-1], classes))
        self._hub_mixin_config = {"n_mels": n_mels, "classes": classes, "channels": list(channels), "kernel": kernel}

    def forward(self, mel: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.blocks(self.stem(mel)), 0.2).sum(dim=-1)
        score = self.score(h).squeeze(-1) + (self.project(label) * h).sum(dim=-1)
        return score, self.classify(h)

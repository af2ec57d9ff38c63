"""KeywordCNN: log-mel -> depthwise-separable residual CNN -> keyword logits (Speech Commands style)."""

from __future__ import annotations

from dataclasses import asdict

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from ..audio import MEL_SPECS, MelSpec
from ..features import LogMel

SILENCE, UNKNOWN = "_silence_", "_unknown_"
CLIP_SAMPLES = 16000  # the model hears one second at a time


class _SeparableBlock(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, each batch-normalised, with a residual path (MobileNet/DS-CNN)."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int]):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.skip = (nn.Identity() if c_in == c_out and stride == (1, 1) else
                     nn.Sequential(nn.AvgPool2d(stride, ceil_mode=True) if stride != (1, 1) else nn.Identity(),
                                   nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class KeywordCNN(nn.Module, PyTorchModelHubMixin):
    """Waveform (batch, 16000) at 16 kHz -> logits (batch, len(labels)).

    ``channels`` gives the width of each stage; the stem and every stage after the first halve
    both the mel and the time axis, so most of the work happens on small maps.
    """

    def __init__(self, labels: list[str], channels: tuple[int, ...] = (64, 96, 128, 160), blocks_per_stage: int = 2,
                 dropout: float = 0.1, mel: dict | None = None):
        super().__init__()
        self.labels = list(labels)
        self.mel_spec = MelSpec(**mel) if mel else MEL_SPECS["kws"]
        self.front = LogMel(self.mel_spec)
        self.norm = nn.BatchNorm2d(1)  # learned global normalisation of log-mel levels
        # A strided 5x5 stem halves mel and time at once: the full-resolution map is the costly one.
        self.stem = nn.Sequential(nn.Conv2d(1, channels[0], 5, stride=2, padding=2, bias=False),
                                  nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True))
        layers, c_in = [], channels[0]
        for i, c in enumerate(channels):
            for j in range(blocks_per_stage):
                stride = (2, 2) if i > 0 and j == 0 else (1, 1)
                layers.append(_SeparableBlock(c_in, c, stride))
                c_in = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in, len(self.labels)))
        # Saved as config.json by the mixin, so a checkpoint rebuilds itself.
        self._hub_mixin_config = {"labels": self.labels, "channels": list(channels),
                                  "blocks_per_stage": blocks_per_stage, "dropout": dropout,
                                  "mel": asdict(self.mel_spec)}

    def features(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (batch, n_mels, frames) -> pooled embedding (batch, channels[-1])."""
        x = self.body(self.stem(self.norm(log_mel.unsqueeze(1))))
        return x.mean(dim=(2, 3))

    def forward_mel(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(log_mel))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.forward_mel(self.front(audio))

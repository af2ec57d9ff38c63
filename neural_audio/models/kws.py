"""KeywordCNN: log-mel -> temporal residual CNN -> pooling -> keyword logits (Speech Commands style)."""

from __future__ import annotations

from dataclasses import asdict

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from ..audio import MEL_SPECS, MelSpec
from ..features import LogMel

SILENCE, UNKNOWN = "_silence_", "_unknown_"
CLIP_SAMPLES = 16000  # the model hears one second at a time


class _TemporalBlock(nn.Module):
    """Two 1-D convolutions over time with batch norm and a residual path (TC-ResNet, Choi et al. 2019)."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True),
            nn.Conv1d(c_out, c_out, kernel, 1, kernel // 2, bias=False), nn.BatchNorm1d(c_out),
        )
        self.skip = (nn.Identity() if c_in == c_out and stride == 1 else
                     nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm1d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class KeywordCNN(nn.Module, PyTorchModelHubMixin):
    """Waveform (batch, 16000) at 16 kHz -> logits (batch, len(labels)).

    The mel bands are the convolution's input channels and the kernels slide over time only
    (TC-ResNet): dense 1-D convolutions run several times faster on a CPU than 2-D ones of the
    same accuracy. Each block after the stem halves the frame rate.
    """

    def __init__(self, labels: list[str], channels: tuple[int, ...] = (64, 96, 128, 144), kernel: int = 5,
                 dropout: float = 0.1, mel: dict | None = None):
        super().__init__()
        self.labels = list(labels)
        self.mel_spec = MelSpec(**mel) if mel else MEL_SPECS["kws"]
        self.front = LogMel(self.mel_spec)
        n_mels = self.mel_spec.n_mels
        self.norm = nn.BatchNorm1d(n_mels)  # learned per-band normalisation of log-mel levels
        self.stem = nn.Sequential(nn.Conv1d(n_mels, channels[0], 3, padding=1, bias=False),
                                  nn.BatchNorm1d(channels[0]), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*(_TemporalBlock(a, b, 2, kernel) for a, b in zip(channels, channels[1:])))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels[-1], len(self.labels)))
        # Saved as config.json by the mixin, so a checkpoint rebuilds itself.
        self._hub_mixin_config = {"labels": self.labels, "channels": list(channels), "kernel": kernel,
                                  "dropout": dropout, "mel": asdict(self.mel_spec)}

    def embed(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (batch, n_mels, frames) -> pooled embedding (batch, channels[-1])."""
        return self.body(self.stem(self.norm(log_mel))).mean(dim=-1)

    def forward_mel(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(log_mel))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.forward_mel(self.front(audio))

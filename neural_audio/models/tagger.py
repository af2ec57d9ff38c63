"""SoundTagger: log-mel -> small 2-D CNN -> temporal CNN -> frame-wise sigmoids -> clip scores (PANNs style)."""

from __future__ import annotations

from dataclasses import asdict

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from ..audio import MEL_SPECS, MelSpec
from ..features import LogMel
from .kws import _TemporalBlock


def _conv2d(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def linear_softmax_pool(frame_probs: torch.Tensor) -> torch.Tensor:
    """Clip probability from frame probabilities (..., frames): sum(p^2) / sum(p).

    Loud frames weigh most, yet every frame counts, so the frame outputs stay calibrated for event
    detection (Wang, Li and Metze, 2019, found it localises best of five pooling functions).
    """
    return (frame_probs ** 2).sum(-1) / frame_probs.sum(-1).clamp_min(1e-7)


class SoundTagger(nn.Module, PyTorchModelHubMixin):
    """Waveform (batch, samples) at 16 kHz, any length -> clip and frame logits over ``labels``.

    A short 2-D stem learns spectral shapes wherever they sit in pitch (three stages of 3x3 convolutions,
    each halving the mel bands; the first two also halve the frame rate); its channels and the remaining
    bands are then flattened into the channels of residual 1-D convolutions over time, which are cheap on
    a CPU and see ~1.5 s of context. The output frame rate is a quarter of the front end's (12.5 frames
    a second at a 20 ms hop). Nothing depends on the clip length.
    """

    def __init__(self, labels: list[str], stem: tuple[int, ...] = (16, 32, 64), channels: int = 256,
                 blocks: int = 2, kernel: int = 5, dropout: float = 0.2, mel: dict | None = None):
        super().__init__()
        self.labels = list(labels)
        self.mel_spec = MelSpec(**mel) if mel else MEL_SPECS["tagger"]
        self.front = LogMel(self.mel_spec)
        self.norm = nn.BatchNorm1d(self.mel_spec.n_mels)  # learned per-band normalisation of log-mel levels
        layers, c_in = [], 1
        for i, c in enumerate(stem):
            layers += [_conv2d(c_in, c), nn.AvgPool2d((2, 2 if i < 2 else 1), ceil_mode=True)]
            c_in = c
        self.stem = nn.Sequential(*layers)
        bands = -(-self.mel_spec.n_mels // 2 ** len(stem))
        self.time_stride = 4
        self.body = nn.Sequential(
            nn.Conv1d(c_in * bands, channels, 1, bias=False), nn.BatchNorm1d(channels), nn.ReLU(inplace=True),
            *(_TemporalBlock(channels, channels, 1, kernel) for _ in range(blocks)))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Conv1d(channels, len(self.labels), 1))
        # Saved as config.json by the mixin, so a checkpoint rebuilds itself.
        self._hub_mixin_config = {"labels": self.labels, "stem": list(stem), "channels": channels, "blocks": blocks,
                                  "kernel": kernel, "dropout": dropout, "mel": asdict(self.mel_spec)}

    @property
    def frame_seconds(self) -> float:
        """Seconds between output frames."""
        return self.time_stride / self.mel_spec.frames_per_second

    def frame_logits(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (batch, n_mels, frames) -> frame logits (batch, labels, ceil(frames / 4))."""
        x = self.stem(self.norm(log_mel).unsqueeze(1))  # (batch, channels, bands, frames)
        return self.head(self.body(x.flatten(1, 2)))

    def forward_mel(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel -> (clip probabilities (batch, labels), frame probabilities (batch, labels, frames))."""
        frames = torch.sigmoid(self.frame_logits(log_mel))
        return linear_softmax_pool(frames), frames

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_mel(self.front(audio))

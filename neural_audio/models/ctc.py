"""CTCTranscriber: log-mel -> convolutional subsampling -> bidirectional GRU -> characters per step (CTC).

Characters rather than whole words as outputs: the spelling is shared between words (``four``,
``forward``, ``follow``), a word's start and end come from its first and last letter in the
alignment, and the decoder's lexicon, not the output layer, decides which words exist, so a
vocabulary can grow without retraining the output layer from scratch.
"""

from __future__ import annotations

from dataclasses import asdict

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from ..audio import MEL_SPECS, MelSpec
from ..features import LogMel
from .vae import _FrameNorm

BLANK = "_"  # index 0: the CTC blank
ALPHABET = BLANK + " abcdefghijklmnopqrstuvwxyz'"


def _valid(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """(batch, 1, total) mask of the steps before each item's length."""
    return (torch.arange(total)[None] < lengths[:, None]).unsqueeze(1)


class _ConvBlock(nn.Module):
    """Frame-wise normalised residual temporal convolution (no batch statistics, so padding and
    clip length never change a frame's output)."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.body = nn.Sequential(_FrameNorm(channels), nn.GELU(),
                                  nn.Conv1d(channels, channels, kernel, padding=kernel // 2))

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        norm, act, conv = self.body
        return x + conv(act(norm(x)) * valid)


class CTCTranscriber(nn.Module, PyTorchModelHubMixin):
    """Waveform (batch, samples) at 16 kHz -> log-probabilities (batch, steps, len(alphabet)).

    The front end subtracts each band's mean over the utterance (cepstral mean normalisation), so a
    microphone's or a room's fixed colouring is removed before the network sees it. Two stride-2
    convolutions take 100 mel frames/s down to 25 steps/s for the recurrent layers.
    """

    def __init__(self, vocabulary: list[str], alphabet: str = ALPHABET, channels: int = 256, hidden: int = 256,
                 layers: int = 2, kernel: int = 5, blocks: int = 2, dropout: float = 0.15, mel: dict | None = None):
        super().__init__()
        self.vocabulary = list(vocabulary)
        self.alphabet = alphabet
        self.mel_spec = MelSpec(**mel) if mel else MEL_SPECS["ctc"]
        self.front = LogMel(self.mel_spec)
        n_mels = self.mel_spec.n_mels
        self.subsample = nn.Sequential(
            nn.Conv1d(n_mels, channels, kernel, stride=2, padding=kernel // 2), _FrameNorm(channels), nn.GELU(),
            nn.Conv1d(channels, channels, kernel, stride=2, padding=kernel // 2),
        )
        self.blocks = nn.Sequential(*(_ConvBlock(channels, kernel) for _ in range(blocks)))
        self.pre_rnn = nn.Sequential(_FrameNorm(channels), nn.GELU(), nn.Dropout(dropout))
        self.rnn = nn.GRU(channels, hidden, layers, batch_first=True, bidirectional=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, len(alphabet)))
        self._hub_mixin_config = {"vocabulary": self.vocabulary, "alphabet": alphabet, "channels": channels,
                                  "hidden": hidden, "layers": layers, "kernel": kernel, "blocks": blocks,
                                  "dropout": dropout, "mel": asdict(self.mel_spec)}

    @property
    def seconds_per_step(self) -> float:
        return 4 * self.mel_spec.hop_length / self.mel_spec.sample_rate

    @staticmethod
    def steps(frames: torch.Tensor | int):
        """Output steps for a number of mel frames (two stride-2 convolutions with 'same' padding)."""
        for _ in range(2):
            frames = (frames - 1) // 2 + 1
        return frames

    def forward_mel(self, log_mel: torch.Tensor, frames: torch.Tensor | None = None):
        """Log-mel (batch, n_mels, frames), valid frames per item -> (log-probs, valid steps per item)."""
        batch, _, total = log_mel.shape
        if frames is None:
            frames = torch.full((batch,), total, dtype=torch.long)
        # Every convolution sees zeros past an item's end, as it would alone: padding changes nothing.
        mask = _valid(frames, total)
        mean = (log_mel * mask).sum(-1, keepdim=True) / frames.clamp_min(1).view(-1, 1, 1)
        conv1, norm, act, conv2 = self.subsample
        half = (frames - 1) // 2 + 1
        x = conv1(torch.where(mask, log_mel - mean, 0.0))
        x = act(norm(x)) * _valid(half, x.shape[-1])
        x = conv2(x)
        steps = self.steps(frames).clamp(1, x.shape[-1])
        valid = _valid(steps, x.shape[-1])
        for block in self.blocks:
            x = block(x * valid, valid)
        x = self.pre_rnn(x).transpose(1, 2)
        if batch > 1 and bool((steps < x.shape[1]).any()):
            packed = nn.utils.rnn.pack_padded_sequence(x, steps.cpu(), batch_first=True, enforce_sorted=False)
            x = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])[0]
        else:
            x = self.rnn(x)[0]
        return F.log_softmax(self.head(x), dim=-1), steps

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.forward_mel(self.front(audio))[0]

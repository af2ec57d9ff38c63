"""A tiny model with the same mixin as the shipped ones, for checkpoint tests."""

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class TinyNet(nn.Module, PyTorchModelHubMixin):
    def __init__(self, n_in: int = 8, n_out: int = 3, labels: list[str] | None = None):
        super().__init__()
        self.labels = labels or [f"c{i}" for i in range(n_out)]
        self.layer = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

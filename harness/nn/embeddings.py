"""Numeric embeddings (Gorishniy, Rubachev, Babenko 2022, "On Embeddings for Numerical Features in
Tabular Deep Learning"): each numeric column becomes a small vector before the first layer, so the
network can bend its response to one feature without spending hidden units on it.

    periodic:  x -> [sin(2 pi c x), cos(2 pi c x)]           c: trainable frequencies, c ~ N(0, scale^2)
    pl:        periodic, then a linear map per feature to `dim` values
    plr:       pl, then ReLU

The preprocessor puts numeric columns first (data/columns.py), so the embedding reads the first
`n_numeric` inputs and passes the rest (one-hot categories, TF-IDF) through unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.spec.names import EMBEDDINGS


class NumericEmbedding(nn.Module):
    """(batch, n_in) -> (batch, n_numeric * width + n_in - n_numeric): numeric columns embedded, the rest
    passed through."""

    def __init__(self, n_numeric: int, kind: str = "plr", frequencies: int = 16, scale: float = 0.1,
                 dim: int = 16):
        super().__init__()
        if kind not in EMBEDDINGS[1:]:
            raise ValueError(f"unknown embedding {kind!r}; use one of {', '.join(EMBEDDINGS[1:])}")
        self.n_numeric, self.kind = n_numeric, kind
        self.frequencies = nn.Parameter(torch.randn(n_numeric, frequencies) * scale)
        self.width = 2 * frequencies
        if kind in ("pl", "plr"):
            # One (2k -> dim) map per feature, initialised as nn.Linear would be for 2k inputs.
            bound = 1 / math.sqrt(2 * frequencies)
            self.weight = nn.Parameter(torch.empty(n_numeric, 2 * frequencies, dim).uniform_(-bound, bound))
            self.bias = nn.Parameter(torch.empty(n_numeric, dim).uniform_(-bound, bound))
            self.width = dim

    def output_width(self, n_in: int) -> int:
        """Inputs of the layer after the embedding."""
        return self.n_numeric * self.width + n_in - self.n_numeric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        numeric, rest = x[:, :self.n_numeric], x[:, self.n_numeric:]
        angles = 2 * math.pi * self.frequencies * numeric.unsqueeze(-1)  # (batch, features, k)
        out = torch.cat([torch.sin(angles), torch.cos(angles)], -1)  # (batch, features, 2k)
        if self.kind != "periodic":
            out = torch.einsum("bfk,fkd->bfd", out, self.weight) + self.bias
            if self.kind == "plr":
                out = torch.relu(out)
        return torch.cat([out.flatten(1), rest], 1)

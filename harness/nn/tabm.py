"""TabM (Gorishniy, Kotelnikov, Babenko, ICLR 2025): one MLP that trains k members at once.

The members share every weight matrix; each has its own cheap adapters (BatchEnsemble: a scale on the
inputs and outputs of every layer, and its own biases) and its own output head. A batch goes through all
k members together; in training each member's prediction is scored by the loss on its own (so they stay
different, as an ensemble's members must); in evaluation their predictions are averaged: the mean for
regression, the mean probability for classification, returned as logits whose softmax (or sigmoid) is
that mean, so everything downstream reads a TabM like any other network.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# How the members' outputs are averaged, by the training loss.
MEAN, SOFTMAX, SIGMOID = "mean", "softmax", "sigmoid"


class BatchEnsembleLinear(nn.Module):
    """y_i = ((x_i * r_i) W^T) * s_i + b_i for member i: one shared W, per-member r, s and b."""

    def __init__(self, n_in: int, n_out: int, k: int, random_signs: bool = False):
        super().__init__()
        shared = nn.Linear(n_in, n_out)  # its initialisation, for the shared weight and the biases
        self.weight = nn.Parameter(shared.weight.detach().clone())
        self.bias = nn.Parameter(shared.bias.detach().repeat(k, 1))
        # Random +-1 input scales make the members differ from the first step (TabM's initialisation);
        # the later layers' adapters start at 1.
        r = torch.randint(0, 2, (k, n_in)).float() * 2 - 1 if random_signs else torch.ones(k, n_in)
        self.r = nn.Parameter(r)
        self.s = nn.Parameter(torch.ones(k, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, k, n_in) -> (batch, k, n_out)
        return (x * self.r) @ self.weight.T * self.s + self.bias


class TabM(nn.Module):
    """k members of an MLP (n_layers x hidden, activation, dropout), BatchEnsemble layers, k heads."""

    def __init__(self, n_in: int, n_out: int, k: int, n_layers: int, hidden: int, activation: nn.Module,
                 dropout: float, combine: str):
        super().__init__()
        self.k, self.combine = k, combine
        widths = [n_in] + [hidden] * n_layers
        self.layers = nn.ModuleList(BatchEnsembleLinear(a, b, k, random_signs=i == 0)
                                    for i, (a, b) in enumerate(zip(widths, widths[1:])))
        self.activation, self.dropout = activation, nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        bound = 1 / math.sqrt(widths[-1])
        self.head_weight = nn.Parameter(torch.empty(k, widths[-1], n_out).uniform_(-bound, bound))
        self.head_bias = nn.Parameter(torch.empty(k, n_out).uniform_(-bound, bound))

    def members(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's output: (batch, n_in) -> (batch, k, n_out)."""
        h = x.unsqueeze(1).expand(-1, self.k, -1)
        for layer in self.layers:
            h = self.dropout(self.activation(layer(h)))
        return torch.einsum("bkd,kdo->bko", h, self.head_weight) + self.head_bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.members(x)
        return out if self.training else average(out, self.combine)


def average(out: torch.Tensor, combine: str) -> torch.Tensor:
    """(batch, k, n_out) members' outputs -> (batch, n_out): the mean prediction, as logits for classes."""
    log_k = math.log(out.shape[1])
    if combine == SOFTMAX:  # log of the mean probability: softmax of it is that mean
        return torch.logsumexp(F.log_softmax(out, -1), 1) - log_k
    if combine == SIGMOID:  # logit of the mean probability of class 1
        p = torch.logsumexp(F.logsigmoid(out), 1) - log_k
        q = torch.logsumexp(F.logsigmoid(-out), 1) - log_k
        return p - q
    return out.mean(1)


def combine_for(loss: str, n_out: int) -> str:
    """How members are averaged under a training loss: probabilities for classification, values otherwise."""
    if loss == "bce":
        return SIGMOID
    if loss == "cross_entropy" or (loss == "auto" and n_out > 1):
        return SOFTMAX
    return MEAN

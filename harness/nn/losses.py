"""Training losses by the names a study file uses, and how many outputs each needs from the network.

Regression losses see encoded (standardized) targets; classification losses see logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.spec.names import CLASSIFICATION_LOSSES, REGRESSION_LOSSES, resolve_loss

REGRESSION_LOSS_MODULES = {"mse": nn.MSELoss, "l1": nn.L1Loss, "huber": nn.HuberLoss}


class BinaryLogitLoss(nn.Module):
    """BCE on one logit per row against class indices 0/1: the two-class network has a single output,
    and sigmoid(logit) is the probability of class 1."""

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output[:, 0], target.to(output.dtype))


class EachMember(nn.Module):
    """A loss that also takes the (batch, k, outputs) of a network's k members in training (TabM), and
    scores each member against the targets on its own, averaged over members and rows: averaging the
    members' outputs first would let them fit together as one model and lose their diversity."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if output.dim() == 3:
            batch, k, width = output.shape
            return self.inner(output.reshape(batch * k, width), target.repeat_interleave(k, 0))
        return self.inner(output, target)


def make_loss(name: str, task: str, label_smoothing: float = 0.0) -> nn.Module:
    """The training loss module; regression losses see encoded (standardized) targets, classification ones logits."""
    name = resolve_loss(name, task)
    if name == "cross_entropy":
        return EachMember(nn.CrossEntropyLoss(label_smoothing=label_smoothing))
    if name == "bce":
        return EachMember(BinaryLogitLoss())
    return EachMember(REGRESSION_LOSS_MODULES[name]())


def output_width(task: str, n_classes: int | None, loss: str) -> int:
    """How many outputs the network needs for this task and loss: one for regression and for bce's single
    logit (sigmoid of it is the probability of the second class), one per class for cross-entropy.
    A loss that does not fit the task is a HarnessError."""
    loss = resolve_loss(loss, task)
    if task == "regression":
        if loss not in REGRESSION_LOSSES:
            raise HarnessError(f"train.loss: {loss} is for classification, but the task is regression; "
                               f"use {', '.join(REGRESSION_LOSSES)}")
        return 1
    if loss not in CLASSIFICATION_LOSSES:
        raise HarnessError(f"train.loss: {loss} is for regression, but the task is classification; "
                           "use cross_entropy or bce (two classes)")
    if loss == "bce":
        if n_classes != 2:
            raise HarnessError(f"train.loss: bce needs exactly two classes, but the target has {n_classes}; "
                               "use cross_entropy")
        return 1
    return n_classes

"""Optimizer and learning-rate schedule from a trial's plain params (never from an Optuna trial).

Each factory reads its params with defaults, so a params dict logged before a key existed still works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harness.errors import HarnessError


def make_optimizer(params: dict, parameters) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), Adam, AdamW or RMSprop (momentum), all with weight decay."""
    name = params.get("optimizer", "adam")
    common = {"lr": params.get("lr", 1e-3), "weight_decay": params.get("weight_decay", 0.0)}
    momentum = params.get("momentum", 0.9)
    if name == "sgd":
        # torch refuses Nesterov without momentum; a searched momentum of 0 means plain SGD then.
        nesterov = bool(params.get("nesterov", False)) and momentum > 0
        # fused: one kernel per step for all parameters; the step's fixed cost dominates at these sizes.
        return torch.optim.SGD(parameters, momentum=momentum, nesterov=nesterov, fused=True, **common)
    if name == "adam":
        return torch.optim.Adam(parameters, fused=True, **common)
    if name == "adamw":
        return torch.optim.AdamW(parameters, fused=True, **common)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, momentum=momentum, **common)  # torch has no fused RMSprop
    raise HarnessError(f"train.optimizer: unknown optimizer {name!r}; use sgd, adam, adamw or rmsprop")


@dataclass
class Schedule:
    """A learning-rate schedule and when the loop steps it: after each batch, after each epoch, or after
    each epoch with the validation score (plateau)."""

    scheduler: object | None
    per_batch: bool = False
    needs_score: bool = False

    def after_batch(self) -> None:
        if self.per_batch:
            self.scheduler.step()

    def after_epoch(self, score: float) -> None:
        if self.scheduler is None or self.per_batch:
            return
        if not self.needs_score:
            self.scheduler.step()
        elif math.isfinite(score):
            self.scheduler.step(score)


def make_schedule(params: dict, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int,
                  patience: int, minimize: bool) -> Schedule:
    """none, cosine (annealed to 0 over `epochs`), step (x0.1 every third of the epochs), onecycle (per
    batch, peaking at params['lr']), plateau (x0.3 after a third of the early-stopping patience without a
    better validation score, so it can act twice before training stops)."""
    name = params.get("schedule", "none")
    sched = torch.optim.lr_scheduler
    if name == "none":
        return Schedule(None)
    if name == "cosine":
        return Schedule(sched.CosineAnnealingLR(optimizer, T_max=epochs))
    if name == "step":
        return Schedule(sched.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1))
    if name == "onecycle":
        # Cycling momentum needs momentum to cycle: Adam's betas, or SGD/RMSprop set up with momentum.
        cycle = params.get("optimizer", "adam") in ("adam", "adamw") or params.get("momentum", 0.9) > 0
        return Schedule(sched.OneCycleLR(optimizer, max_lr=params.get("lr", 1e-3), epochs=epochs,
                                         steps_per_epoch=steps_per_epoch, cycle_momentum=cycle), per_batch=True)
    if name == "plateau":
        # threshold 0: "better" means strictly better, as for early stopping and best-epoch selection.
        return Schedule(sched.ReduceLROnPlateau(optimizer, mode="min" if minimize else "max", factor=0.3,
                                                patience=max(1, patience // 3), threshold=0.0),
                        needs_score=True)
    raise HarnessError(f"train.schedule: unknown schedule {name!r}; use none, cosine, step, onecycle or plateau")

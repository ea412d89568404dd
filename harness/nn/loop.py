"""The one training loop, and `evaluate`. Pruning and logging get in through `on_epoch`.

The hot path follows what was measured fastest here (STACK-NOTES section 6): the data already lives on
the device, the whole training set is permuted once per epoch and then cut into contiguous slices (no
DataLoader, no per-sample collate), optimizers use fused kernels where torch has them, and the loss is
read back to the host once per epoch, not once per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from harness.data.prepare import Prepared
from harness.nn.augment import augment
from harness.nn.losses import make_loss
from harness.nn.metrics import FAST, classification_metrics, fast_metrics, probabilities
from harness.nn.optim import make_optimizer, make_schedule

__all__ = ["TrainingDiverged", "TrainResult", "evaluate", "fit", "make_loss", "make_optimizer", "outputs"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the trial fails with this reason and the study goes on."""


@dataclass
class TrainResult:
    best_epoch: int
    best_score: float
    epochs_run: int
    history: list[dict] = field(default_factory=list)


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, end) of each batch of an epoch. A last batch of a single row joins the one before it:
    batch norm cannot normalize one row (it raises), and one row's gradient is mostly noise anyway."""
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


@torch.no_grad()
def outputs(model: nn.Module, X: torch.Tensor, batch: int = 65536) -> torch.Tensor:
    """Raw network outputs (encoded targets or logits) for every row, in eval mode."""
    model.eval()
    return torch.cat([model(X[i:i + batch]) for i in range(0, len(X), batch)]) if len(X) else X[:, :0]


def evaluate(model: nn.Module, data: Prepared, split: str, loss_fn: nn.Module, full: bool = False) -> dict[str, float]:
    """Loss and metrics of one split; `full` adds the classification metrics that need scikit-learn."""
    out = outputs(model, data.X[split])
    if data.task == "regression":  # metrics in original units whatever the encoding; float64: exp overflows less
        scores = fast_metrics(data.to_original(out.double()), data.to_original(data.y[split].double()), data.task)
    else:
        scores = fast_metrics(out, data.y[split], data.task)
    if full and data.task == "classification":
        proba = probabilities(out).cpu().numpy()
        scores.update(classification_metrics(data.y[split].cpu().numpy(), proba))
    scores["loss"] = loss_fn(out, data.y[split]).item()
    return scores


def fit(model: nn.Module, data: Prepared, params: dict, *, epochs: int, patience: int, metric: str,
        minimize: bool, seed: int, on_epoch: Callable[[int, dict], None] = lambda epoch, scores: None,
        ) -> TrainResult:
    """Train on data.X['train'], select on data.X['val']; the best epoch's weights are restored at the end.

    `metric` is a bare name (rmse, accuracy); `on_epoch(epoch, scores)` gets
    {'train/loss', 'train/lr', 'val/loss', 'val/<metric>', ...} and may raise to stop the trial (pruning).
    Only a finite validation score can be the best: a trial whose every epoch scored NaN raises
    TrainingDiverged. The model is moved to the data's device first.
    """
    model.to(data.device)
    X, y, n = data.X["train"], data.y["train"], len(data.X["train"])
    loss_fn = make_loss(params.get("loss", "auto"), data.task, params.get("label_smoothing", 0.0))
    optimizer = make_optimizer(params, model.parameters())
    batch_size = min(params.get("batch_size", 64), n)
    batches = batch_bounds(n, batch_size)
    schedule = make_schedule(params, optimizer, epochs=epochs, steps_per_epoch=len(batches),
                             patience=patience, minimize=minimize)
    grad_clip = params.get("grad_clip", 0.0)
    generator = torch.Generator(device=data.device).manual_seed(seed)
    sign = 1.0 if minimize else -1.0
    best = TrainResult(best_epoch=-1, best_score=sign * float("inf"), epochs_run=0)  # the worst score
    best_state = None
    full = metric not in FAST[data.task]  # f1 or roc_auc as the study metric: score them every epoch

    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, device=data.device, generator=generator)
        X_epoch, y_epoch = X[order], y[order]  # one gather per epoch; the batches below are views
        lr = optimizer.param_groups[0]["lr"]  # the rate this epoch starts with (onecycle moves it per batch)
        loss_sum = torch.zeros((), device=data.device)
        for start, end in batches:
            xb, yb = augment(X_epoch[start:end], params, generator), y_epoch[start:end]
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip > 0:  # returns the norm as a tensor: no host sync
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            schedule.after_batch()
            loss_sum += loss.detach() * len(xb)
        train_loss = (loss_sum / n).item()  # the epoch's one host sync on the training side
        if not np.isfinite(train_loss):
            raise TrainingDiverged(f"training diverged: train loss is {train_loss} at epoch {epoch}")

        val = evaluate(model, data, "val", loss_fn, full)
        scores = {"train/loss": train_loss, "train/lr": lr, **{f"val/{k}": v for k, v in val.items()}}
        best.history.append(scores)
        best.epochs_run = epoch + 1
        score = val[metric]
        schedule.after_epoch(score)
        if np.isfinite(score) and sign * score < sign * best.best_score:
            best.best_epoch, best.best_score = epoch, score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        on_epoch(epoch, scores)
        if epoch - best.best_epoch >= patience:
            break

    if best_state is None:
        raise TrainingDiverged(f"val/{metric} was never a finite number in {best.epochs_run} epoch(s) "
                               f"(last: {best.history[-1]['val/' + metric]})")
    model.load_state_dict(best_state)
    return best

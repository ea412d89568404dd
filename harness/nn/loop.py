"""The one training loop, and `evaluate`. Pruning and logging get in through `on_epoch`.

The hot path follows what was measured fastest here (STACK-NOTES section 6, benchmarks/loop.py): the data
already lives on the device, the training set is permuted once per epoch and cut into contiguous slices
(no DataLoader, no per-sample collate), optimizers use fused kernels where torch has them, and the host
reads the device once per epoch: the training loss and the validation scores in one copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from harness.data.prepare import Prepared
from harness.nn.augment import augment
from harness.nn.losses import make_loss
from harness.nn.metrics import EVERY_EPOCH, classification_metrics, device_metrics, probabilities
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


# Above this size the training tensors are not copied whole each epoch: each batch is gathered by index
# instead (slower per step, but the device never holds the data twice).
WHOLE_EPOCH_COPY_BYTES = 256 * 2**20
# Rows per evaluation pass. On a CPU a pass whose activations fit the core's cache is fastest (an MLP of
# width 128 scored 2.3x more rows per second in passes of 2,048 rows than of 16,384 here); a GPU wants
# large passes, bounded so that activations of image models stay small beside the data.
EVAL_ROWS_CPU, EVAL_BYTES_GPU = 2048, 2**30


def shuffled_batches(X: torch.Tensor, y: torch.Tensor, bounds: list[tuple[int, int]],
                     generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch's (inputs, targets) batches in a new random order."""
    order = torch.randperm(len(X), device=X.device, generator=generator)
    if X.nbytes + y.nbytes <= WHOLE_EPOCH_COPY_BYTES:
        X, y = X[order], y[order]  # one gather per epoch; the batches below are views
        return ((X[start:end], y[start:end]) for start, end in bounds)
    return ((X[order[start:end]], y[order[start:end]]) for start, end in bounds)


def eval_rows(X: torch.Tensor) -> int:
    """Rows per evaluation pass on X's device (see EVAL_ROWS_CPU)."""
    if X.device.type == "cpu":
        return EVAL_ROWS_CPU
    row_bytes = X[:1].nbytes or 1
    return int(min(65536, max(256, EVAL_BYTES_GPU // (64 * row_bytes))))  # activations: ~64x the input


@torch.no_grad()
def outputs(model: nn.Module, X: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """Raw network outputs (encoded targets or logits) for every row, in eval mode."""
    model.eval()
    batch = batch or eval_rows(X)
    return torch.cat([model(X[i:i + batch]) for i in range(0, len(X), batch)]) if len(X) else X[:, :0]


def split_scores(out: torch.Tensor, data: Prepared, split: str, loss_fn: nn.Module,
                 names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The loss and the named metrics of a split's outputs, as tensors still on the device."""
    y = data.y[split]
    if data.task == "regression":  # metrics in original units whatever the encoding; float64: exp overflows less
        scores = device_metrics(data.to_original(out.double()), data.to_original(y.double()), data.task, names)
    else:
        scores = device_metrics(out, y, data.task, names)
    scores["loss"] = loss_fn(out, y).double()
    return scores


def evaluate(model: nn.Module, data: Prepared, split: str, loss_fn: nn.Module, full: bool = False) -> dict[str, float]:
    """Loss and every metric of one split. Computed on the device and read back at once, or with
    `full`, the classification metrics by scikit-learn on the host (once per trial, as the reference)."""
    out = outputs(model, data.X[split])
    on_device = split_scores(out, data, split, loss_fn, EVERY_EPOCH[data.task] + (
        ("roc_auc",) if data.task == "classification" else ()))
    scores = dict(zip(on_device, torch.stack(list(on_device.values())).tolist()))
    if full and data.task == "classification":
        proba = probabilities(out.double()).cpu().numpy()
        scores.update(classification_metrics(data.y[split].cpu().numpy(), proba))
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
    parameters = list(model.parameters())
    optimizer = make_optimizer(params, parameters)
    batch_size = min(params.get("batch_size", 64), n)
    batches = batch_bounds(n, batch_size)
    schedule = make_schedule(params, optimizer, epochs=epochs, steps_per_epoch=len(batches),
                             patience=patience, minimize=minimize)
    grad_clip = params.get("grad_clip", 0.0)
    generator = torch.Generator(device=data.device).manual_seed(seed)
    sign = 1.0 if minimize else -1.0
    best = TrainResult(best_epoch=-1, best_score=sign * float("inf"), epochs_run=0)  # the worst score
    best_state = None
    names = tuple(dict.fromkeys(EVERY_EPOCH[data.task] + ((metric,) if metric != "loss" else ())))

    for epoch in range(epochs):
        model.train()
        lr = optimizer.param_groups[0]["lr"]  # the rate this epoch starts with (onecycle moves it per batch)
        loss_sum = torch.zeros((), device=data.device)
        for xb, yb in shuffled_batches(X, y, batches, generator):
            loss = loss_fn(model(augment(xb, params, generator)), yb)
            for p in parameters:  # = optimizer.zero_grad(set_to_none=True) without its per-step overhead
                p.grad = None  # (profiler hook, foreach grouping): 1.2x the steps per second at batch 64
            loss.backward()
            if grad_clip > 0:  # returns the norm as a tensor: no host sync
                nn.utils.clip_grad_norm_(parameters, grad_clip)
            optimizer.step()
            schedule.after_batch()
            loss_sum.add_(loss.detach(), alpha=len(xb))

        val = split_scores(outputs(model, data.X["val"]), data, "val", loss_fn, names)
        train_loss, *values = torch.stack([loss_sum.double() / n, *val.values()]).tolist()  # the one host sync
        if not np.isfinite(train_loss):
            raise TrainingDiverged(f"training diverged: train loss is {train_loss} at epoch {epoch}")
        scores = {"train/loss": train_loss, "train/lr": lr, **{f"val/{k}": v for k, v in zip(val, values)}}
        best.history.append(scores)
        best.epochs_run = epoch + 1
        score = scores[f"val/{metric}"]
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

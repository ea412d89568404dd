"""A trial scored by k-fold cross-validation (`study.folds`): k fits of the same params, each on its own
fold, their out-of-fold predictions pooled into the trial's validation metrics, and the k fold models
averaged into the trial's model.

The fits use the one training loop unchanged (`fit` per fold); each fold reports its epochs to MLflow
as `fold<i>/...` and, once done, the running score of the folds so far to Optuna (step = fold), so a
hopeless trial is pruned after its first folds instead of its last.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import optuna
import torch

from harness.data.folds import Fold, make_folds, pooled_labels
from harness.data.prepare import Prepared
from harness.nn.loop import evaluate, fit
from harness.nn.losses import make_loss, output_width
from harness.nn.metrics import classification_metrics, regression_metrics
from harness.nn.models import build_model, count_parameters
from harness.search import objectives
from harness.serve.ensemble import EnsemblePredictor, prediction_values
from harness.serve.predictor import Predictor
from harness.signals import checkpoint
from harness.spec.schema import StudySpec


@dataclass
class CrossValidated:
    predictor: EnsemblePredictor  # the k fold models, equal weights: the trial's packaged model
    out_of_fold: np.ndarray  # one prediction per train+val row (values, or class probabilities)
    metrics: dict[str, float]  # val/* of the pooled out-of-fold predictions; val/loss averaged over folds
    summary: dict[str, float]  # best_epoch, epochs_run (means over folds), folds; n_parameters and the
    # study's other network objectives (latency_ms) measured on fold 0's network


class FoldSets:
    """Each numeric scaling's folds, built once per process and shared by every trial."""

    def __init__(self, k: int, seed: int):
        self.k, self.seed, self.built = k, seed, {}

    def __call__(self, data: Prepared) -> list[Fold]:
        if data.numeric not in self.built:
            self.built[data.numeric] = make_folds(data, self.k, self.seed)
        return self.built[data.numeric]


def pooled_metrics(data: Prepared, predicted: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """Metrics of out-of-fold predictions on `rows` of the pooled train+val rows."""
    truth = pooled_labels(data)[rows]
    if data.task == "regression":
        return regression_metrics(truth, predicted[rows])
    index = {label: i for i, label in enumerate(data.classes)}
    return classification_metrics(np.array([index[v] for v in truth]), predicted[rows])


@dataclass
class FoldFit:
    """One fold's fit, as the study's process needs it back (from a fold process too: it pickles)."""

    model: torch.nn.Module  # the restored best weights
    history: list[dict]  # the scores of every epoch, as `fit` passes them to its on_epoch
    best_epoch: int
    epochs_run: int
    val_loss: float  # the loss summed over the fold's validation rows
    process: int = field(default_factory=os.getpid)  # the process that fitted it


def fit_fold(spec: StudySpec, fold: Fold, params: dict, seed: int, metric: str) -> FoldFit:
    """Fit `params` on one fold with the trial's seed: the same call wherever it runs, so the same network."""
    data = fold.data
    torch.manual_seed(seed)
    model = build_model(params, data.n_features, output_width(data.task, data.n_classes, params["loss"]),
                        data.input_shape, data.n_numeric, data.output_range).to(data.device)
    result = fit(model, data, params, epochs=spec.train.epochs, patience=spec.train.early_stopping.patience,
                 metric=metric, minimize=spec.study.direction == "minimize", seed=seed)
    loss_fn = make_loss(params["loss"], data.task, params.get("label_smoothing", 0.0))
    val_loss = evaluate(model, data, "val", loss_fn)["loss"] * len(fold.rows)
    return FoldFit(model, result.history, result.best_epoch, result.epochs_run, val_loss)


class FitFolds(Protocol):
    """What fits a trial's folds: one at a time here, or several at once (study/fold_pool.py)."""

    size: int

    def __call__(self, spec: StudySpec, data: Prepared, folds: list[Fold], wanted: list[int], params: dict,
                 seed: int, metric: str) -> Iterator[FoldFit]: ...

    def close(self) -> None: ...


class OneAtATime:
    size = 1

    def __call__(self, spec, data, folds, wanted, params, seed, metric) -> Iterator[FoldFit]:
        return (fit_fold(spec, folds[i], params, seed, metric) for i in wanted)

    def close(self) -> None:
        pass  # nothing started


def cross_validate(spec: StudySpec, data: Prepared, folds: list[Fold], params: dict, seed: int, metric: str,
                   on_fold: Callable[[int, list[dict]], None], trial: optuna.Trial | None,
                   fit_folds: FitFolds = OneAtATime()) -> CrossValidated:
    """Fit `params` on every fold (same seed), pool the out-of-fold predictions, average the fold models.

    `fit_folds` fits them `fit_folds.size` at a time; the folds are taken in order, each as if it had just
    been fitted alone: `on_fold(i, history)` gets its per-epoch scores under `fold<i>/` names,
    and with `trial`, the running pooled score is reported and the trial pruned when Optuna says so."""
    width = 1 if data.task == "regression" else len(data.classes)
    out_of_fold = np.zeros((len(pooled_labels(data)), width))
    members, losses, best_epochs, epochs_run, done, measured = [], [], [], [], [], {}
    with closing(iter(fit_folds(spec, data, folds, list(range(len(folds))), params, seed, metric))) as fits:
        for i, fitted in enumerate(fits):
            fold, model = folds[i], fitted.model
            on_fold(i, [{f"fold{i}/{k}": v for k, v in scores.items()} for scores in fitted.history])
            losses.append(fitted.val_loss)
            best_epochs.append(fitted.best_epoch)
            epochs_run.append(fitted.epochs_run)
            if i == 0:  # the network's own objectives (size, latency): every fold's network has the same shape
                measured = {"n_parameters": count_parameters(model),
                            **objectives.measure(spec, model, fold.data.X["val"])}
            member = Predictor.from_training(fold.data, model, params)
            # From the fold's own prepared rows: the raw rows' predictions, without preprocessing them again.
            values = prediction_values(member.predict_prepared(fold.data.X["val"]), data.task, data.classes)
            out_of_fold[fold.rows] = values.reshape(len(fold.rows), width)
            members.append(member)
            done.append(fold.rows)
            if trial is not None:
                rows = np.concatenate(done)
                running = pooled_metrics(data, _squeeze(out_of_fold, data.task), rows)
                running["loss"] = sum(losses) / len(rows)
                trial.report(running[metric], i)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {i}: val/{metric} {running[metric]:.4g} "
                                             f"on {len(rows)} rows")
            checkpoint()  # Ctrl-C or SIGTERM ends the trial here, between folds
    out_of_fold = _squeeze(out_of_fold, data.task)
    metrics = pooled_metrics(data, out_of_fold, np.arange(len(out_of_fold)))
    metrics["loss"] = sum(losses) / len(out_of_fold)
    predictor = EnsemblePredictor.of(members, [1.0] * len(members), {**params, "folds": len(members)})
    summary = {"best_epoch": float(np.mean(best_epochs)), "epochs_run": float(np.mean(epochs_run)),
               "folds": len(members), **measured}
    return CrossValidated(predictor, out_of_fold, {f"val/{k}": v for k, v in metrics.items()}, summary)


def _squeeze(values: np.ndarray, task: str) -> np.ndarray:
    """Regression predictions as (n,), class probabilities as (n, k)."""
    return values[:, 0] if task == "regression" else values


def cost_line(study: optuna.Study, spec: StudySpec, data: Prepared) -> str | None:
    """What cross-validation cost this study, for the summary; None when trials scored on one split."""
    if spec.study.folds < 2:
        return None
    done = [t for t in study.trials if t.datetime_start and t.datetime_complete]
    seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done)
    rows = len(data.raw["train"]) + len(data.raw["val"])
    return (f"{spec.study.folds}-fold cross-validation of {rows} train+val rows: {spec.study.folds} fits per "
            f"trial (about {spec.study.folds}x the training of one split), {seconds:.0f} s for "
            f"{len(done)} trials; the test split untouched")

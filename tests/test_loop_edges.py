"""The training loop at its edges: a one-row last batch, NaN scores, a metric a split cannot support, and
a model that is not on the data's device yet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from harness.data.prepare import prepare
from harness.errors import HarnessError
from harness.nn.loop import TrainingDiverged, batch_bounds, fit
from harness.nn.metrics import classification_metrics
from harness.nn.models import build_model
from harness.spec.schema import build_spec
from harness.study.checks import check_metric_fits_splits

PARAMS = {"family": "mlp", "n_layers": 1, "hidden": 8, "activation": "relu", "norm": "batch",
          "loss": "mse", "optimizer": "adam", "lr": 1e-2, "weight_decay": 0.0}


@pytest.fixture(scope="module")
def diabetes():
    return prepare("sklearn:diabetes", None, "auto", 0.15, 0.15, seed=0, device="cpu")


def test_a_last_batch_of_one_row_joins_the_batch_before_it() -> None:
    assert batch_bounds(65, 32) == [(0, 32), (32, 65)]
    assert batch_bounds(64, 32) == [(0, 32), (32, 64)]
    assert batch_bounds(66, 32) == [(0, 32), (32, 64), (64, 66)]
    assert batch_bounds(1, 32) == [(0, 1)]


def test_batch_norm_trains_when_the_training_rows_leave_one_row_over(diabetes) -> None:
    n = len(diabetes.X["train"])
    batch = next(b for b in range(8, n) if n % b == 1)  # the last batch would hold a single row
    torch.manual_seed(0)
    model = build_model(PARAMS, diabetes.n_features, 1)
    result = fit(model, diabetes, {**PARAMS, "batch_size": batch}, epochs=3, patience=5, metric="rmse",
                 minimize=True, seed=0)
    assert result.epochs_run == 3 and np.isfinite(result.best_score)


class Poisoned(nn.Module):
    """A network whose evaluation outputs are NaN while `poisoned` is set (training is untouched)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.poisoned = inner, True

    def forward(self, x):
        out = self.inner(x)
        return out * float("nan") if self.poisoned and not self.training else out


def test_a_nan_score_is_never_the_best_epoch(diabetes) -> None:
    torch.manual_seed(0)
    model = Poisoned(build_model({**PARAMS, "norm": "none"}, diabetes.n_features, 1))
    seen = []

    def on_epoch(epoch, scores):
        seen.append(scores["val/rmse"])
        model.poisoned = False  # only the first epoch scores NaN

    result = fit(model, diabetes, {**PARAMS, "norm": "none", "batch_size": 32}, epochs=6, patience=10,
                 metric="rmse", minimize=True, seed=0, on_epoch=on_epoch)
    assert np.isnan(seen[0]) and all(np.isfinite(seen[1:]))
    assert result.best_epoch >= 1 and result.best_score == pytest.approx(min(seen[1:]))


def test_a_trial_whose_every_score_is_nan_fails_with_that_reason(diabetes) -> None:
    model = Poisoned(build_model({**PARAMS, "norm": "none"}, diabetes.n_features, 1))
    with pytest.raises(TrainingDiverged, match="val/rmse was never a finite number in 4 epoch"):
        fit(model, diabetes, {**PARAMS, "norm": "none", "batch_size": 32}, epochs=4, patience=10, metric="rmse",
            minimize=True, seed=0)


def test_a_maximized_metric_still_picks_its_best_epoch(diabetes) -> None:
    torch.manual_seed(0)
    model = build_model({**PARAMS, "norm": "none"}, diabetes.n_features, 1)
    seen = []
    result = fit(model, diabetes, {**PARAMS, "norm": "none", "batch_size": 32}, epochs=8, patience=20,
                 metric="r2", minimize=False, seed=0, on_epoch=lambda e, s: seen.append(s["val/r2"]))
    assert result.best_score == pytest.approx(max(seen)) and result.best_epoch == int(np.argmax(seen))


def test_roc_auc_on_a_split_without_a_class_is_nan_not_an_error() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    scores = classification_metrics(np.array([0, 1, 0]), proba)  # class 2 is absent
    assert np.isnan(scores["roc_auc"]) and scores["accuracy"] == 1.0


def test_val_roc_auc_is_refused_when_the_validation_split_lacks_a_class(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "label": ["a"] * 30 + ["b"] * 29 + ["c"]})
    frame.to_csv(tmp_path / "rare.csv", index=False)
    raw = {"name": "rare", "data": {"source": str(tmp_path / "rare.csv"), "target": "label"},
           "study": {"metric": "val/roc_auc"}}
    refused = 0
    for seed in range(6):  # the single "c" row lands in one split or another, by the seed
        data = prepare(str(tmp_path / "rare.csv"), "label", "auto", 0.2, 0.2, seed=seed, device="cpu")
        spec = build_spec({**raw, "data": {**raw["data"], "split": {"seed": seed}}}, "rare.yaml").resolved(data.task)
        if "c" in set(data.labels["val"]):
            check_metric_fits_splits(spec, data)
        else:
            with pytest.raises(HarnessError, match="val/roc_auc needs every class in the validation split.*'c'"):
                check_metric_fits_splits(spec, data)
            refused += 1
    assert refused, "no seed left the rare class out of validation: the check was never exercised"


@pytest.mark.gpu
def test_fit_moves_a_cpu_model_to_the_data_on_the_gpu() -> None:
    data = prepare("sklearn:diabetes", None, "auto", 0.15, 0.15, seed=0, device="cuda")
    model = build_model({**PARAMS, "norm": "none"}, data.n_features, 1)  # built on the CPU
    result = fit(model, data, {**PARAMS, "norm": "none", "batch_size": 32}, epochs=3, patience=5, metric="rmse",
                 minimize=True, seed=0)
    assert next(model.parameters()).device.type == "cuda" and np.isfinite(result.best_score)

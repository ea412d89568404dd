"""The training loop: learns, stops early with the best epoch's weights, reports every epoch, fails loudly."""

from __future__ import annotations

import pytest
import torch

from harness.data.prepare import prepare
from harness.nn.loop import TrainingDiverged, evaluate, fit
from harness.nn.losses import make_loss
from harness.nn.models import build_model

PARAMS = {"family": "mlp", "n_layers": 1, "hidden": 16, "activation": "relu", "dropout": 0.0,
          "loss": "mse", "optimizer": "adam", "lr": 1e-2, "weight_decay": 0.0, "batch_size": 32}


@pytest.fixture(scope="module")
def diabetes():
    return prepare("sklearn:diabetes", None, "auto", 0.15, 0.15, seed=0, device="cpu")


def test_fit_reports_each_epoch_and_restores_the_best(diabetes) -> None:
    torch.manual_seed(0)
    model = build_model(PARAMS, diabetes.n_features, 1)
    seen = []
    result = fit(model, diabetes, PARAMS, epochs=200, patience=5, metric="rmse", minimize=True, seed=0,
                 on_epoch=lambda epoch, scores: seen.append(scores))
    assert len(seen) == result.epochs_run < 200, "early stopping should end training well before 200 epochs"
    assert result.epochs_run - 1 - result.best_epoch == 5
    best = min(s["val/rmse"] for s in seen)
    assert result.best_score == pytest.approx(best)
    # The restored weights are the best epoch's, not the last epoch's.
    assert evaluate(model, diabetes, "val", make_loss("mse", "regression"))["rmse"] == pytest.approx(best, rel=1e-5)
    assert seen[0]["train/loss"] > seen[result.best_epoch]["train/loss"]


def test_on_epoch_can_stop_training(diabetes) -> None:
    class Stop(Exception):
        pass

    def stop_at_three(epoch, scores):
        if epoch == 3:
            raise Stop

    with pytest.raises(Stop):
        fit(build_model(PARAMS, diabetes.n_features, 1), diabetes, PARAMS, epochs=50, patience=50,
            metric="rmse", minimize=True, seed=0, on_epoch=stop_at_three)


def test_divergence_is_an_error_with_a_reason(diabetes) -> None:
    params = {**PARAMS, "optimizer": "sgd", "lr": 1e12}
    with pytest.raises(TrainingDiverged, match="diverged"):
        fit(build_model(params, diabetes.n_features, 1), diabetes, params, epochs=20, patience=20,
            metric="rmse", minimize=True, seed=0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_learns(diabetes, optimizer: str) -> None:
    torch.manual_seed(0)
    params = {**PARAMS, "optimizer": optimizer, "lr": 1e-2 if optimizer != "sgd" else 1e-3}
    model = build_model(params, diabetes.n_features, 1)
    result = fit(model, diabetes, params, epochs=30, patience=30, metric="r2", minimize=False, seed=0)
    assert result.best_score > 0.2

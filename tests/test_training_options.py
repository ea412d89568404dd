"""Training settings a study can search: losses (bce on one logit, label smoothing), optimizers with their
momentum options, learning-rate schedules as logged in train/lr, gradient clipping, and the log target
whose every reported number and prediction is in the original units."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers import ROOT, mlflow_client, run_cli
from torch.optim.optimizer import register_optimizer_step_pre_hook

import harness
from harness.data.prepare import prepare
from harness.errors import HarnessError
from harness.nn.loop import evaluate, fit, outputs
from harness.nn.losses import make_loss, output_width
from harness.nn.models import build_model
from harness.nn.optim import make_optimizer
from harness.serve.predictor import Predictor

HOUSES = str(ROOT / "experiments/data/house_prices.csv")
PARAMS = {"family": "mlp", "n_layers": 1, "hidden": 16, "activation": "relu", "dropout": 0.0,
          "loss": "mse", "optimizer": "adam", "lr": 1e-2, "weight_decay": 0.0, "batch_size": 32}


@pytest.fixture(scope="module")
def diabetes():
    return prepare("sklearn:diabetes", None, "auto", 0.15, 0.15, seed=0, device="cpu")


@pytest.fixture(scope="module")
def cancer():
    return prepare("sklearn:breast_cancer", None, "auto", 0.15, 0.15, seed=0, device="cpu")


@pytest.fixture(scope="module")
def houses_log():
    return prepare(HOUSES, "price", "regression", 0.2, 0.2, seed=0, device="cpu", target_transform="log")


def width(data, loss: str) -> int:
    return output_width(data.task, data.n_classes, loss)


def train(data, params, epochs=20, patience=100, metric="rmse", minimize=True, seed=0):
    torch.manual_seed(seed)
    model = build_model(params, data.n_features, width(data, params.get("loss", "auto")))
    result = fit(model, data, params, epochs=epochs, patience=patience, metric=metric, minimize=minimize, seed=seed)
    return model, result


# --- losses ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss,functional", [("mse", F.mse_loss), ("l1", F.l1_loss), ("huber", F.huber_loss)])
def test_each_regression_loss_is_the_one_trained_and_reported(diabetes, loss, functional) -> None:
    params = {**PARAMS, "loss": loss}
    model, result = train(diabetes, params, epochs=15)
    expected = functional(outputs(model, diabetes.X["val"]), diabetes.y["val"]).item()
    assert result.history[result.best_epoch]["val/loss"] == pytest.approx(expected, rel=1e-5)
    assert result.history[result.best_epoch]["val/r2"] > 0.2, f"{loss} should learn diabetes"


def test_label_smoothing_keeps_probabilities_off_the_edges(cancer) -> None:
    confident = {}
    for smoothing in (0.0, 0.3):
        params = {**PARAMS, "loss": "cross_entropy", "label_smoothing": smoothing}
        model, result = train(cancer, params, epochs=30, metric="accuracy", minimize=False)
        assert result.best_score > 0.9
        confident[smoothing] = torch.softmax(outputs(model, cancer.X["val"]), 1).max(1).values.median().item()
        # The loss the loop reports is the smoothed one the network was trained on.
        out = outputs(model, cancer.X["val"])
        assert evaluate(model, cancer, "val", make_loss("cross_entropy", "classification", smoothing))["loss"] == \
            pytest.approx(F.cross_entropy(out, cancer.y["val"], label_smoothing=smoothing).item(), rel=1e-5)
    # Smoothing 0.3 over two classes makes 0.85 the best probability to give the true class.
    assert confident[0.0] > 0.97 and 0.75 < confident[0.3] < 0.9


def test_bce_trains_one_logit_and_reports_two_class_probabilities(cancer) -> None:
    assert width(cancer, "bce") == 1 and width(cancer, "cross_entropy") == 2
    params = {**PARAMS, "loss": "bce"}
    model, result = train(cancer, params, epochs=20, metric="accuracy", minimize=False)
    assert model[-1].out_features == 1
    scores = evaluate(model, cancer, "val", make_loss("bce", "classification"), full=True)
    assert scores["accuracy"] > 0.9 and scores["roc_auc"] > 0.95 and scores["log_loss"] < 0.3
    logit = outputs(model, cancer.X["val"])[:, 0]
    assert scores["loss"] == pytest.approx(
        F.binary_cross_entropy_with_logits(logit, cancer.y["val"].float()).item(), rel=1e-5)

    predicted = Predictor.from_training(cancer, model, params).predict(cancer.raw["val"])
    first, second = cancer.classes  # sigmoid(logit) is the probability of the second class
    assert list(predicted.columns) == ["prediction", f"proba_{first}", f"proba_{second}"]
    np.testing.assert_allclose(predicted[f"proba_{second}"], torch.sigmoid(logit).numpy(), rtol=1e-5)
    np.testing.assert_allclose(predicted[f"proba_{first}"] + predicted[f"proba_{second}"], 1.0, rtol=1e-6)
    assert (predicted["prediction"] == np.where(logit.numpy() > 0, second, first)).all()


def test_a_loss_that_does_not_fit_the_data_is_a_clear_error(workdir: Path, diabetes) -> None:
    iris = prepare("sklearn:iris", None, "auto", 0.2, 0.2, seed=0, device="cpu")
    with pytest.raises(HarnessError, match="bce needs exactly two classes, but the target has 3"):
        width(iris, "bce")
    with pytest.raises(HarnessError, match="cross_entropy is for classification"):
        width(diabetes, "cross_entropy")
    # Through a study: the file is named and nothing is written to MLflow before the check.
    (workdir / "iris_bce.yaml").write_text("name: iris-bce\ndata: {source: 'sklearn:iris'}\ntrain: {loss: bce}\n")
    with pytest.raises(HarnessError, match=r"^iris_bce.yaml: train.loss: bce needs exactly two classes"):
        harness.run_study("iris_bce.yaml", echo=lambda line: None)
    assert not (workdir / "mlruns" / "mlflow.db").exists()


# --- optimizers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kind,options", [
    ("sgd", torch.optim.SGD, {"momentum": 0.8, "nesterov": True, "fused": True}),
    ("adam", torch.optim.Adam, {"fused": True}),
    ("adamw", torch.optim.AdamW, {"fused": True}),
    ("rmsprop", torch.optim.RMSprop, {"momentum": 0.8}),
])
def test_optimizer_settings_reach_torch(name, kind, options) -> None:
    params = {"optimizer": name, "lr": 0.05, "weight_decay": 1e-3, "momentum": 0.8, "nesterov": True}
    optimizer = make_optimizer(params, torch.nn.Linear(3, 1).parameters())
    group = optimizer.param_groups[0]
    assert type(optimizer) is kind and group["lr"] == 0.05 and group["weight_decay"] == 1e-3
    assert {k: group[k] for k in options} == options


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_momentum_and_nesterov_change_training(diabetes, optimizer) -> None:
    def losses(**extra):
        params = {**PARAMS, "optimizer": optimizer, "lr": 1e-3, **extra}
        return [h["train/loss"] for h in train(diabetes, params, epochs=3)[1].history]

    plain = losses(momentum=0.0, nesterov=True)  # Nesterov without momentum falls back to plain SGD
    heavy = losses(momentum=0.9)
    assert plain != heavy and heavy[-1] < plain[-1]  # momentum speeds up these first epochs
    if optimizer == "sgd":
        assert losses(momentum=0.9, nesterov=True) != heavy


# --- schedules ---------------------------------------------------------------------------------------------

def lrs(data, schedule, epochs):
    """The learning rate of each epoch, as the loop reports it (and MLflow logs it) under train/lr."""
    params = {**PARAMS, "lr": 0.01, "schedule": schedule}
    return [h["train/lr"] for h in train(data, params, epochs=epochs)[1].history]


def test_no_schedule_keeps_the_rate(diabetes) -> None:
    assert lrs(diabetes, "none", 4) == [0.01] * 4


def test_cosine_anneals_over_the_epochs(diabetes) -> None:
    seen = lrs(diabetes, "cosine", 8)
    np.testing.assert_allclose(seen, [0.005 * (1 + math.cos(math.pi * e / 8)) for e in range(8)], rtol=1e-6)


def test_step_divides_by_ten_every_third_of_the_epochs(diabetes) -> None:
    np.testing.assert_allclose(lrs(diabetes, "step", 9), [0.01] * 3 + [0.001] * 3 + [0.0001] * 3, rtol=1e-6)


def test_onecycle_warms_up_to_the_peak_then_anneals(diabetes) -> None:
    seen = lrs(diabetes, "onecycle", 10)
    peak = int(np.argmax(seen))
    assert seen[0] == pytest.approx(0.01 / 25)  # OneCycleLR starts at max_lr / div_factor
    assert 0 < peak < 9 and 0.008 < seen[peak] <= 0.01
    assert all(a < b for a, b in zip(seen[:peak], seen[1:peak + 1]))
    assert all(a > b for a, b in zip(seen[peak:], seen[peak + 1:])) and seen[-1] < seen[peak] / 10


@pytest.mark.parametrize("minimize,metric", [(True, "rmse"), (False, "accuracy")])
def test_plateau_cuts_the_rate_when_the_study_metric_stalls(diabetes, cancer, minimize, metric) -> None:
    data = diabetes if minimize else cancer
    loss = "mse" if minimize else "cross_entropy"
    params = {**PARAMS, "loss": loss, "lr": 0.03, "schedule": "plateau"}
    history = train(data, params, epochs=40, patience=6, metric=metric, minimize=minimize)[1].history
    # Replay ReduceLROnPlateau's rule on the logged scores: x0.3 after more than 6 // 3 epochs without a
    # strictly better score, in the study's direction.
    sign = 1 if minimize else -1
    best, bad, lr, expected = math.inf, 0, 0.03, []
    for scores in history:
        expected.append(lr)
        if sign * scores[f"val/{metric}"] < best:
            best, bad = sign * scores[f"val/{metric}"], 0
        else:
            bad += 1
        if bad > 2:
            lr, bad = lr * 0.3, 0
    seen = [h["train/lr"] for h in history]
    np.testing.assert_allclose(seen, expected, rtol=1e-6)
    assert seen[-1] < 0.03, "the run should stall long enough to cut the rate at least once"


# --- gradient clipping -----------------------------------------------------------------------------------

def test_gradient_clipping_bounds_every_steps_gradient_norm(diabetes) -> None:
    norms = []

    def record(optimizer, args, kwargs):  # runs before every optimizer step, after clipping
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    handle = register_optimizer_step_pre_hook(record)  # every optimizer, so also the one fit() makes
    try:
        params = {**PARAMS, "optimizer": "sgd", "lr": 1e-3}
        train(diabetes, {**params, "grad_clip": 0.0}, epochs=2)
        unclipped, norms[:] = list(norms), []
        train(diabetes, {**params, "grad_clip": 0.5}, epochs=2)
    finally:
        handle.remove()
    assert max(unclipped) > 1.0, "without clipping this setting has larger gradients, or the test proves nothing"
    assert len(norms) == len(unclipped) and max(norms) <= 0.5 * (1 + 1e-4)


# --- log target ----------------------------------------------------------------------------------------------

def test_log_target_trains_on_logs_and_reports_dollars(houses_log, tmp_path: Path) -> None:
    data = houses_log
    assert data.target_transform == "log"
    np.testing.assert_allclose(data.y["train"].numpy().ravel(),
                               (np.log(data.labels["train"]) - data.target_mean) / data.target_std, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(data.to_original(data.y["val"].double()).numpy().ravel(), data.labels["val"], rtol=1e-5)

    params = {**PARAMS, "lr": 3e-3}
    model, result = train(data, params, epochs=30)
    predictor = Predictor.from_training(data, model, params)
    saved = Predictor.load(predictor.save(tmp_path / "model"))  # what the registry holds
    assert saved.meta["target_transform"] == "log"
    dollars = saved.predict(data.raw["val"])["prediction"].to_numpy()
    assert dollars.min() > 10_000, "predictions come back in dollars, not log or standardized units"
    # The per-epoch validation RMSE the study selects on is the packaged model's RMSE in dollars.
    rmse = float(np.sqrt(np.mean((dollars - data.labels["val"]) ** 2)))
    assert result.best_score == pytest.approx(rmse, rel=1e-4)
    assert 5_000 < rmse < 30_000


def test_log_target_of_a_non_positive_value_is_a_clear_error(workdir: Path) -> None:
    frame = pd.read_csv(HOUSES)
    frame.loc[7, "price"] = 0
    frame.to_csv(workdir / "houses.csv", index=False)
    (workdir / "log.yaml").write_text("name: log-zero\ntask: regression\n"
                                      "data: {source: houses.csv, target: price, target_transform: log}\n")
    with pytest.raises(HarnessError, match=r"^log.yaml: data.target_transform: log needs targets above 0, but "
                                           r"'price' has 1 value\(s\) <= 0 \(smallest 0\); use standardize"):
        harness.run_study("log.yaml", echo=lambda line: None)
    assert not (workdir / "mlruns" / "mlflow.db").exists()


# --- end to end ---------------------------------------------------------------------------------------------

BCE_STUDY = """
name: cancer-bce
task: classification
data: {source: 'sklearn:breast_cancer'}
model: {family: mlp, n_layers: 1, hidden: 16}
train: {loss: bce, optimizer: adamw, lr: 0.01, schedule: cosine, grad_clip: 1.0, epochs: 4}
study: {trials: 1, metric: val/roc_auc}
baselines: false
register: {linear_member: false}  # the champion is the bce network itself, whose run this test reads
"""


@pytest.mark.slow
def test_bce_study_registers_a_model_that_predicts_labels_and_probabilities(workdir: Path) -> None:
    (workdir / "bce.yaml").write_text(BCE_STUDY)
    out = run_cli("study", "bce.yaml")
    assert "trial   0 COMPLETE" in out.stdout and "promoted to @champion" in out.stdout

    client = mlflow_client()
    version = client.get_model_version_by_alias("cancer-bce", "champion")
    run = client.get_run(version.run_id)
    assert run.data.params["loss"] == "bce" and run.data.metrics["test/roc_auc"] > 0.9
    lr = [m.value for m in client.get_metric_history(version.run_id, "epoch/train/lr")]
    assert len(lr) == 4 and lr[0] == pytest.approx(0.01) and lr[-1] < lr[0]

    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    bunch.frame.drop(columns=["target"]).head(30).to_csv(workdir / "rows.csv", index=False)
    run_cli("predict", "models:/cancer-bce@champion", "rows.csv", "-o", "predicted.csv")  # a fresh process
    predicted = pd.read_csv(workdir / "predicted.csv")
    assert list(predicted.columns) == ["row", "prediction", "proba_benign", "proba_malignant"]
    np.testing.assert_allclose(predicted["proba_benign"] + predicted["proba_malignant"], 1.0, rtol=1e-6)
    assert (predicted["prediction"] == np.where(predicted["proba_malignant"] > 0.5, "malignant", "benign")).all()
    truth = bunch.target_names[bunch.target.head(30)]
    assert (predicted["prediction"] == truth).mean() > 0.85

"""The metrics computed on the device every epoch are scikit-learn's (the reference the final scores use),
ties, absent classes, one bce logit and extreme logits included; and an epoch reads the device once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.data.prepare import prepare
from harness.nn.loop import evaluate, fit
from harness.nn.losses import make_loss
from harness.nn.metrics import classification_metrics, device_metrics, probabilities
from harness.nn.models import build_model

NAMES = ("accuracy", "f1", "log_loss", "roc_auc")


def cases(count: int = 120):
    """Random logits and labels: 1 (bce) to 5 outputs, 5 to 60 rows, tied rows, scales that saturate."""
    rng = np.random.default_rng(0)
    for _ in range(count):
        width = int(rng.integers(1, 6))
        n_classes = 2 if width == 1 else width
        n = int(rng.integers(5, 60))
        out = rng.normal(size=(n, width)) * rng.choice([0.1, 3.0, 60.0])  # 60: probabilities of exactly 0 or 1
        if rng.random() < 0.5:
            out = out[rng.integers(0, max(1, n // 3), n)]  # many tied rows
        yield torch.as_tensor(out, dtype=torch.float32), torch.as_tensor(rng.integers(0, n_classes, n))


def test_device_classification_metrics_are_scikit_learns() -> None:
    compared = nan = 0
    for out, y in cases():
        found = {k: v.item() for k, v in device_metrics(out, y, "classification", NAMES).items()}
        expected = classification_metrics(y.numpy(), probabilities(out.double()).numpy())
        for name in NAMES:
            if np.isnan(expected[name]):
                assert np.isnan(found[name]), name
                nan += 1
            else:
                assert found[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name
                compared += 1
    assert compared > 350 and nan >= 3  # both paths exercised: defined scores and a class absent


def test_device_regression_metrics_in_original_units() -> None:
    rng = np.random.default_rng(1)
    true, pred = rng.normal(1e5, 3e4, 500), rng.normal(1e5, 3e4, 500)
    found = device_metrics(torch.as_tensor(pred[:, None]), torch.as_tensor(true[:, None]), "regression",
                           ("rmse", "mae", "r2"))
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    assert found["rmse"].item() == pytest.approx(root_mean_squared_error(true, pred), rel=1e-12)
    assert found["mae"].item() == pytest.approx(mean_absolute_error(true, pred), rel=1e-12)
    assert found["r2"].item() == pytest.approx(r2_score(true, pred), rel=1e-12)


@pytest.fixture(scope="module")
def cancer():
    return prepare("sklearn:breast_cancer", None, "auto", 0.15, 0.15, seed=0, device="cpu")


def test_an_epoch_reads_the_device_once_and_scores_as_the_final_evaluation(cancer, monkeypatch) -> None:
    params = {"family": "mlp", "n_layers": 1, "hidden": 16, "activation": "relu", "loss": "cross_entropy",
              "optimizer": "adam", "lr": 1e-2, "batch_size": 64}
    reads = []
    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: reads.append(self.shape) or original(self))
    monkeypatch.setattr(torch.Tensor, "item", lambda self: pytest.fail("a per-epoch .item() is a host sync"))
    torch.manual_seed(0)
    model = build_model(params, cancer.n_features, 2)
    seen = []
    fit(model, cancer, params, epochs=4, patience=10, metric="roc_auc", minimize=False, seed=0,
        on_epoch=lambda epoch, scores: seen.append(scores))
    assert len(reads) == 4  # one read of the device per epoch: the training loss and every validation score
    monkeypatch.undo()
    assert {"val/accuracy", "val/f1", "val/log_loss", "val/roc_auc", "val/loss"} <= seen[-1].keys()
    # The restored best epoch scores the same on the device as through scikit-learn once the trial is done.
    full = evaluate(model, cancer, "val", make_loss("cross_entropy", "classification"), full=True)
    best = max(seen, key=lambda s: s["val/roc_auc"])
    for name in NAMES:
        assert best[f"val/{name}"] == pytest.approx(full[name], rel=1e-6), name

"""Task metrics, named the same everywhere (Optuna, MLflow, the terminal): rmse, mae, r2 for regression;
accuracy, f1, roc_auc, log_loss for classification.

`fast_metrics` runs on device tensors every epoch and costs one host sync; `full_metrics` runs once per
trial on host arrays and adds what needs scikit-learn.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn import metrics as sk

from harness.spec.names import REGRESSION_METRICS

FAST = {"regression": REGRESSION_METRICS, "classification": ("accuracy",)}


def fast_metrics(output: torch.Tensor, y: torch.Tensor, task: str) -> dict[str, float]:
    """Cheap per-epoch metrics on the device, one host sync. Regression: `output` and `y` in the target's
    original units (the caller decodes them). Classification: logits (n, k), or (n, 1) for one bce logit."""
    if task == "regression":
        output, y = output.double(), y.double()  # original units can be large: squared errors in float64
        err = (output - y).flatten()
        sse = (err * err).sum()
        sst = ((y - y.mean()) ** 2).sum().clamp_min(1e-12)
        stacked = torch.stack([(sse / err.numel()).sqrt(), err.abs().mean(), 1 - sse / sst]).tolist()
        return dict(zip(REGRESSION_METRICS, stacked))
    return {"accuracy": (predicted_index(output) == y).float().mean().item()}


def predicted_index(output: torch.Tensor) -> torch.Tensor:
    """Class index per row: argmax of the logits, or logit > 0 (probability > 0.5) for one bce logit."""
    return (output[:, 0] > 0).long() if output.shape[1] == 1 else output.argmax(1)


def probabilities(output: torch.Tensor) -> torch.Tensor:
    """Class probabilities (n, k) from logits; one bce logit gives the two columns 1 - p and p."""
    if output.shape[1] == 1:
        return torch.cat([torch.sigmoid(-output), torch.sigmoid(output)], 1)  # sigmoid(-x): exact 1 - p
    return torch.softmax(output, 1)


def regression_metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    true, pred = np.asarray(true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return {
        "rmse": float(np.sqrt(np.mean((true - pred) ** 2))),
        "mae": float(np.mean(np.abs(true - pred))),
        "r2": float(sk.r2_score(true, pred)),
    }


def classification_metrics(true_index: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Metrics from class indices and class probabilities (n, k)."""
    n_classes = proba.shape[1]
    proba = proba / proba.sum(1, keepdims=True)  # float32 softmax sums drift from 1 by ~1e-7
    pred = proba.argmax(1)
    labels = np.arange(n_classes)
    out = {
        "accuracy": float(sk.accuracy_score(true_index, pred)),
        "f1": float(sk.f1_score(true_index, pred, average="binary" if n_classes == 2 else "macro",
                                labels=None if n_classes == 2 else labels, zero_division=0)),
        "log_loss": float(sk.log_loss(true_index, proba, labels=labels)),
    }
    present = np.unique(true_index)
    if len(present) == n_classes:
        out["roc_auc"] = float(sk.roc_auc_score(true_index, proba[:, 1]) if n_classes == 2 else
                               sk.roc_auc_score(true_index, proba, multi_class="ovr", labels=labels))
    else:  # AUC is undefined when a class is absent from the split: NaN, never a best score
        out["roc_auc"] = float("nan")
    return out


def confusion(true_index: np.ndarray, pred_index: np.ndarray, n_classes: int) -> np.ndarray:
    return sk.confusion_matrix(true_index, pred_index, labels=np.arange(n_classes))



def score_predictions(predictions, truth: np.ndarray, task: str, classes: list | None) -> dict[str, float]:
    """Metrics of a packaged model's output frame (`prediction`, then `proba_<class>` columns) against the
    raw targets: how a user of the registry would score it."""
    if task == "regression":
        return regression_metrics(truth, predictions["prediction"].to_numpy())
    index = {label: i for i, label in enumerate(classes)}
    proba = predictions[[f"proba_{c}" for c in classes]].to_numpy(dtype=np.float64)
    return classification_metrics(np.array([index[v] for v in truth]), proba)

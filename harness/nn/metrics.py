"""Task metrics, named the same everywhere (Optuna, MLflow, the terminal): rmse, mae, r2 for regression;
accuracy, f1, roc_auc, log_loss for classification.

Two implementations of the same definitions: `device_metrics` runs every epoch on the device's tensors and
copies nothing to the host (the caller reads every value back in one sync); the scikit-learn functions run
once per trial on host arrays, as the reference. tests/test_metrics.py holds the two to the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from harness.spec.names import REGRESSION_METRICS

# Metrics worth computing every epoch whatever the study metric is (a few reductions each); roc_auc sorts
# every column, so it is computed per epoch only when it is the study metric.
EVERY_EPOCH = {"regression": REGRESSION_METRICS, "classification": ("accuracy", "f1", "log_loss")}
EPS = float(np.finfo(np.float64).eps)  # scikit-learn clips float64 probabilities to [eps, 1 - eps]


def device_metrics(output: torch.Tensor, y: torch.Tensor, task: str, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The named metrics as 0-d float64 tensors on the output's device, with no host sync.

    Regression: `output` and `y` in the target's original units (the caller decodes them).
    Classification: logits (n, k), or (n, 1) for one bce logit, and class indices y."""
    if task == "regression":
        output, y = output.double().flatten(), y.double().flatten()  # original units: squares in float64
        err = output - y
        sse = (err * err).sum()
        sst = ((y - y.mean()) ** 2).sum().clamp_min(1e-12)
        every = {"rmse": lambda: (sse / err.numel()).sqrt(), "mae": lambda: err.abs().mean(),
                 "r2": lambda: 1 - sse / sst}
    else:
        log_proba = log_probabilities(output)
        pred = predicted_index(output)
        every = {"accuracy": lambda: (pred == y).double().mean(), "f1": lambda: f1(pred, y, log_proba.shape[1]),
                 "log_loss": lambda: log_loss(log_proba, y), "roc_auc": lambda: roc_auc(probabilities(output.double()), y)}
    return {name: every[name]() for name in names}


def predicted_index(output: torch.Tensor) -> torch.Tensor:
    """Class index per row: argmax of the logits, or logit > 0 (probability > 0.5) for one bce logit."""
    return (output[:, 0] > 0).long() if output.shape[1] == 1 else output.argmax(1)


def probabilities(output: torch.Tensor) -> torch.Tensor:
    """Class probabilities (n, k) from logits; one bce logit gives the two columns 1 - p and p."""
    if output.shape[1] == 1:
        return torch.cat([torch.sigmoid(-output), torch.sigmoid(output)], 1)  # sigmoid(-x): exact 1 - p
    return torch.softmax(output, 1)


def log_probabilities(output: torch.Tensor) -> torch.Tensor:
    """Log class probabilities (n, k) in float64 from logits (one bce logit: log(1 - p), log p)."""
    output = output.double()
    if output.shape[1] == 1:
        return torch.cat([F.logsigmoid(-output), F.logsigmoid(output)], 1)
    return torch.log_softmax(output, 1)


def log_loss(log_proba: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log probability of the true class, each clipped as scikit-learn clips probabilities."""
    nll = -log_proba.gather(1, y[:, None]).squeeze(1)
    return nll.clamp(-math.log1p(-EPS), -math.log(EPS)).mean()


def f1(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """F1 of class 1 for two classes, else the unweighted mean over every class (0 where undefined)."""
    counts = torch.bincount(y * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = counts.diagonal().double()
    wrong = counts.sum(0) + counts.sum(1) - 2 * tp  # false positives + false negatives
    per_class = torch.where(2 * tp + wrong > 0, 2 * tp / (2 * tp + wrong).clamp_min(1), torch.zeros_like(tp))
    return per_class[1] if n_classes == 2 else per_class.mean()


def roc_auc(proba: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ROC AUC of class 1 for two classes, else one-vs-rest averaged over classes; NaN when a class is
    absent (it is undefined then). Ties count one half, as the trapezoids of the ROC curve do.

    Per class: the share of (positive, negative) pairs ordered correctly. Each positive's count of
    negatives scoring below it (and half those tied) is read off a cumulative count along the sorted
    scores with two binary searches: fixed-size operations only, so no host sync on a GPU."""
    n_classes = proba.shape[1]
    columns = proba[:, 1:] if n_classes == 2 else proba  # (n, c)
    positive = F.one_hot(y, n_classes)[:, 1:] if n_classes == 2 else F.one_hot(y, n_classes)
    scores, order = columns.T.contiguous().sort(dim=1)  # (c, n) ascending
    negative_sorted = 1 - positive.T.gather(1, order)
    negatives_before = F.pad(negative_sorted.cumsum(1), (1, 0)).double()  # (c, n + 1)
    below = negatives_before.gather(1, torch.searchsorted(scores, columns.T.contiguous(), right=False))
    up_to = negatives_before.gather(1, torch.searchsorted(scores, columns.T.contiguous(), right=True))
    pos = positive.T.double()
    n_pos = pos.sum(1)
    n_neg = len(y) - n_pos
    auc = ((below + up_to) / 2 * pos).sum(1) / (n_pos * n_neg).clamp_min(1)
    defined = (n_pos > 0).all() & (n_neg > 0).all()
    return torch.where(defined, auc.mean(), torch.full_like(auc[0], float("nan")))


def regression_metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as sk

    true, pred = np.asarray(true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return {
        "rmse": float(np.sqrt(np.mean((true - pred) ** 2))),
        "mae": float(np.mean(np.abs(true - pred))),
        "r2": float(sk.r2_score(true, pred)),
    }


def classification_metrics(true_index: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Metrics from class indices and class probabilities (n, k), by scikit-learn."""
    from sklearn import metrics as sk

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
    from sklearn import metrics as sk

    return sk.confusion_matrix(true_index, pred_index, labels=np.arange(n_classes))


def score_predictions(predictions, truth: np.ndarray, task: str, classes: list | None) -> dict[str, float]:
    """Metrics of a packaged model's output frame (`prediction`, then `proba_<class>` columns) against the
    raw targets: how a user of the registry would score it."""
    if task == "regression":
        return regression_metrics(truth, predictions["prediction"].to_numpy())
    index = {label: i for i, label in enumerate(classes)}
    proba = predictions[[f"proba_{c}" for c in classes]].to_numpy(dtype=np.float64)
    return classification_metrics(np.array([index[v] for v in truth]), proba)


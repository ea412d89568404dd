"""A linear model offered to ensemble selection beside the study's best trials (`register.linear_member`).

On small tables a well-regularized linear model is often the best single model: quick mode's own table
lost wine, breast_cancer and diabetes to logistic regression or ridge. Averaged with the networks, it can
lower the error of both, and selection gives it weight only when it does on the selection rows.

It is scored exactly as a trial is: fitted on each fold's training rows (or on the training split when
trials score on the validation split), in the network's own output space (the encoded target; logits),
and its penalty and numeric scaling are chosen by the pooled RMSE or log loss of the selection rows. The
scalings are the study's own and standardization, the baselines' own: robust scaling's smooth clip bends
a straight line at its tails, which a network can learn around and a linear model cannot (y = 2x over
heavy-tailed x: ridge erred 2.4 times as much after the clip as after standardizing). It is packaged as what
it is, a one-layer network (family `linear`) behind each fold's own preprocessing, so the registered model
still needs nothing but torch to predict.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.data.folds import make_folds
from harness.data.prepare import Prepared
from harness.nn.metrics import classification_metrics, regression_metrics
from harness.nn.models import build_model
from harness.record.baselines import LOGISTIC_CS, RIDGE_ALPHAS
from harness.serve.ensemble import EnsemblePredictor, prediction_values
from harness.serve.predictor import Predictor
from harness.spec.distributions import values_of
from harness.spec.schema import StudySpec

ABSENT = -30.0  # the logit of a class a fold's training rows lack: probability about 1e-13
NAMES = {"regression": ("ridge", "alpha"), "classification": ("logistic_regression", "C")}


@dataclass
class LinearMember:
    name: str  # ridge or logistic_regression
    penalty_name: str  # alpha or C
    penalty: float
    numeric: str  # the numeric scaling of its inputs: the study's own (data.numeric), or standard
    predictor: Predictor | EnsemblePredictor  # one per fold, equal weights, as a cross-validated trial's
    values: np.ndarray  # its predictions of the selection rows, in the order of the trials' own

    def describe(self) -> str:
        return f"{self.name} ({self.penalty_name}={self.penalty:.3g}, numeric {self.numeric})"


def fit_linear_member(spec: StudySpec, data: Prepared, truth: np.ndarray) -> LinearMember | None:
    """The linear member of this table's study: the numeric scaling (the study's, or standard) and penalty
    its selection rows prefer; None for images, or when no linear model can be fitted (a fold's training
    rows of one class)."""
    if data.input_shape is not None:
        return None
    scalings = dict.fromkeys([*values_of(spec.data.numeric), "standard"])  # in order, each once
    found = [(numeric, _best_penalty(spec, data.variant(numeric), truth)) for numeric in scalings]
    found = [(numeric, f) for numeric, f in found if f is not None]
    if not found:
        return None
    numeric, (_, penalty, predictors, values) = min(found, key=lambda f: f[1][0])  # the first of equals
    predictor = predictors[0] if len(predictors) == 1 else \
        EnsemblePredictor.of(predictors, [1.0] * len(predictors), {"family": "linear", "folds": len(predictors)})
    return LinearMember(*NAMES[data.task], float(penalty), numeric, predictor, values)


def _best_penalty(spec: StudySpec, data: Prepared, truth: np.ndarray) -> tuple | None:
    """(score, penalty, one Predictor per split, selection-row predictions) of the grid's best penalty."""
    if spec.study.folds > 1:
        splits = [(fold.data, fold.rows) for fold in make_folds(data, spec.study.folds, spec.data.split.seed)]
    else:
        splits = [(data, np.arange(len(data.labels["val"])))]
    features = [(split.X["train"].detach().cpu().numpy().astype(np.float64),
                 split.y["train"].detach().cpu().numpy().reshape(len(split.X["train"]), -1)[:, 0])
                for split, _ in splits]
    best = None
    for penalty in RIDGE_ALPHAS if data.task == "regression" else LOGISTIC_CS:
        try:
            predictors = [_predictor(split, *_fit(data.task, X, y, penalty, len(data.classes or [])))
                          for (split, _), (X, y) in zip(splits, features)]
        except ValueError:  # scikit-learn refuses a fold whose training rows hold one class
            return None
        values = _out_of_fold(data, splits, predictors, len(truth))
        score = _proper_score(data.task, truth, values)
        if np.isfinite(score) and (best is None or score < best[0]):
            best = (score, penalty, predictors, values)
    return best


def _fit(task: str, X: np.ndarray, y: np.ndarray, penalty: float, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights (outputs, features) and biases (outputs,) of the linear model, as the network's last layer."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "regression":
        model = Ridge(alpha=penalty).fit(X, y)
        return model.coef_.reshape(1, -1), np.atleast_1d(model.intercept_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may stop at max_iter on the weakest penalties
        model = LogisticRegression(C=penalty, max_iter=2000).fit(X, y.astype(np.int64))
    weight, bias = np.zeros((n_classes, X.shape[1])), np.full(n_classes, ABSENT)
    present = model.classes_.astype(np.int64)
    if len(present) == 2:  # one logit, the second class's against the first's: softmax of (0, z)
        weight[present[1]], bias[present[1]], bias[present[0]] = model.coef_[0], model.intercept_[0], 0.0
    else:
        weight[present], bias[present] = model.coef_, model.intercept_
    return weight, bias


def _predictor(split: Prepared, weight: np.ndarray, bias: np.ndarray) -> Predictor:
    """The fitted linear model as a Predictor: a `linear` network with those weights, the split's own
    preprocessing, and (regression) the trials' clamp to the training targets' range."""
    params = {"family": "linear", "loss": "mse" if split.task == "regression" else "cross_entropy"}
    network = build_model(params, split.n_features, len(bias), None, split.n_numeric, split.output_range)
    layer = next(m for m in network.modules() if isinstance(m, nn.Linear))
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return Predictor.from_training(split, network, params)


def _out_of_fold(data: Prepared, splits: list, predictors: list[Predictor], n: int) -> np.ndarray:
    """Each split's predictions of its held-out rows, placed where those rows sit among the selection rows."""
    width = 1 if data.task == "regression" else len(data.classes)
    values = np.zeros((n, width))
    for (split, rows), predictor in zip(splits, predictors):
        predicted = prediction_values(predictor.predict_prepared(split.X["val"]), data.task, data.classes)
        values[rows] = predicted.reshape(len(rows), width)
    return values[:, 0] if data.task == "regression" else values


def _proper_score(task: str, truth: np.ndarray, values: np.ndarray) -> float:
    """What chooses the penalty, whatever the study's metric: RMSE, or log loss (smooth where accuracy ties)."""
    if task == "regression":
        return regression_metrics(truth, values)["rmse"]
    return classification_metrics(truth, values)["log_loss"]

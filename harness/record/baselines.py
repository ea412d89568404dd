"""Reference models beside every study, so the MLflow UI shows whether the network beat a classic model.

They see exactly what the trials see: the study's fitted preprocessing (the `data.X` tensors) and its
train/val/test splits. Each is logged once per study as a run `baseline-<model>`, a child of the study's
parent run, with the trials' metric names (`val/rmse`, `test/rmse`, ...), so runs compare side by side.

    regression:      ridge (RidgeCV, alpha by leave-one-out on train), hist_gradient_boosting
    classification:  logistic_regression (C chosen on val), hist_gradient_boosting
    hist_gradient_boosting stops early on the study's own validation split.

They run on the study's torch thread count (scikit-learn's OpenMP and BLAS pools bounded to it: with two
busy neighbours, two threads made logistic regression 40x and boosting 9x slower here) and within a
budget of about a tenth of the study's expected time (budget.py): a sample of the training rows and a
cap on boosting iterations when the data is large; the summary's note and the run's `harness.bound`
tag say when a bound applied.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from harness.nn.metrics import classification_metrics, regression_metrics
from harness.record.budget import Bounds, bounds
from harness.spec.names import bare, minimized

BASELINES = {"regression": ("ridge", "hist_gradient_boosting"),
             "classification": ("logistic_regression", "hist_gradient_boosting")}
RIDGE_ALPHAS = np.logspace(-3, 4, 15)
LOGISTIC_CS = np.logspace(-3, 3, 7)
HGB_MAX_ITER = 500  # an upper bound: early stopping on val usually ends far sooner
ROLE = "baseline"


@dataclass
class Baseline:
    """A fitted reference model's record: what it was, how it was set, and how it scored."""

    name: str
    params: dict
    metrics: dict[str, float]  # val/* and test/*, the trials' names
    run_id: str | None = None
    seconds: float = 0.0
    bound: str | None = None  # how the budget bounded it, if it did


def _sample(X: dict, y: dict, rows: int | None, seed: int, every_class: bool = False) -> tuple[dict, dict]:
    """The training split cut to `rows` random rows (the others untouched); as it is when rows is None.
    With `every_class`, a row of each class is among them: boosting refuses a validation class it was
    not trained on, and with many classes a random sample often misses a rare one."""
    if rows is None or rows >= len(y["train"]):
        return X, y
    order = np.random.default_rng(seed).permutation(len(y["train"]))
    if every_class:
        first = order[np.unique(y["train"][order], return_index=True)[1]]  # each class's first row in `order`
        order = np.concatenate([first, order[~np.isin(order, first)]])
        rows = max(rows, len(first))
    keep = np.sort(order[:rows])
    return {**X, "train": X["train"][keep]}, {**y, "train": y["train"][keep]}


def _arrays(data) -> dict[str, np.ndarray]:
    """The study's preprocessed splits as 2-D float arrays (images flattened to one row of pixels)."""
    return {s: x.detach().cpu().numpy().reshape(len(x), -1).astype(np.float64) for s, x in data.X.items()}


def _target_functions(transform: str, train_y: np.ndarray):
    """Forward and inverse of the study's target transform (a log target is fitted on the log scale, as
    the trials are); scaling is left out, as it changes neither model's predictions."""
    if transform == "log" and np.all(train_y > 0):
        return np.log, np.exp
    return (lambda y: y), (lambda y: y)


def fit_regression(data, seed: int = 0, limit: Bounds | None = None) -> list[Baseline]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV

    X = _arrays(data)
    y = {s: np.asarray(v, dtype=np.float64) for s, v in data.labels.items()}
    X, y = _sample(X, y, limit and limit.rows, seed)
    max_iter = (limit and limit.boosting_iterations) or HGB_MAX_ITER
    forward, inverse = _target_functions(data.target_transform, y["train"])
    transform = "log" if forward is np.log else "none"
    out = []

    start = time.perf_counter()
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(X["train"], forward(y["train"]))
    out.append(_scored_regression("ridge", ridge, X, y, inverse, start,
                                  {"model": "RidgeCV", "alpha": float(ridge.alpha_), "alphas": "logspace(-3, 4, 15)",
                                   "target_transform": transform}))

    start = time.perf_counter()
    hgb = HistGradientBoostingRegressor(max_iter=max_iter, early_stopping=True, n_iter_no_change=20,
                                        random_state=seed)
    hgb.fit(X["train"], forward(y["train"]), X_val=X["val"], y_val=forward(y["val"]))
    out.append(_scored_regression("hist_gradient_boosting", hgb, X, y, inverse, start,
                                  {"model": "HistGradientBoostingRegressor", "learning_rate": hgb.learning_rate,
                                   "max_leaf_nodes": hgb.max_leaf_nodes, "max_iter": max_iter,
                                   "n_iter": int(hgb.n_iter_), "early_stopping": "val split",
                                   "target_transform": transform}))
    return out


def _scored_regression(name, model, X, y, inverse, start, params) -> Baseline:
    metrics = {}
    for split in ("val", "test"):
        pred = inverse(model.predict(X[split]))
        metrics.update({f"{split}/{k}": v for k, v in regression_metrics(y[split], pred).items()})
    return Baseline(name, params, metrics, seconds=time.perf_counter() - start)


def fit_classification(data, seed: int = 0, limit: Bounds | None = None) -> list[Baseline]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    X = _arrays(data)
    y = {s: v.detach().cpu().numpy() for s, v in data.y.items()}
    X, y = _sample(X, y, limit and limit.rows, seed, every_class=True)
    max_iter = (limit and limit.boosting_iterations) or HGB_MAX_ITER
    n_classes = len(data.classes)
    out = []

    # C by validation log loss: a proper score, smooth where accuracy ties on small splits.
    start = time.perf_counter()
    best = None
    for c in LOGISTIC_CS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs may stop at max_iter on the weakest penalties
            model = LogisticRegression(C=c, max_iter=2000).fit(X["train"], y["train"])
        loss = classification_metrics(y["val"], _proba(model, X["val"], n_classes))["log_loss"]
        if best is None or loss < best[0]:
            best = (loss, c, model)
    out.append(_scored_classification("logistic_regression", best[2], X, y, n_classes, start,
                                      {"model": "LogisticRegression", "C": float(best[1]),
                                       "Cs": "logspace(-3, 3, 7)", "selected_by": "val/log_loss"}))

    start = time.perf_counter()
    hgb = HistGradientBoostingClassifier(max_iter=max_iter, early_stopping=True, n_iter_no_change=20,
                                         random_state=seed)
    hgb.fit(X["train"], y["train"], X_val=X["val"], y_val=y["val"])
    out.append(_scored_classification("hist_gradient_boosting", hgb, X, y, n_classes, start,
                                      {"model": "HistGradientBoostingClassifier", "learning_rate": hgb.learning_rate,
                                       "max_leaf_nodes": hgb.max_leaf_nodes, "max_iter": max_iter,
                                       "n_iter": int(hgb.n_iter_), "early_stopping": "val split"}))
    return out


def _proba(model, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over all the study's classes, even one the training split happened to lack."""
    proba = np.zeros((len(X), n_classes))
    proba[:, model.classes_] = model.predict_proba(X)
    return proba


def _scored_classification(name, model, X, y, n_classes, start, params) -> Baseline:
    metrics = {}
    for split in ("val", "test"):
        scores = classification_metrics(y[split], _proba(model, X[split], n_classes))
        metrics.update({f"{split}/{k}": v for k, v in scores.items()})
    return Baseline(name, params, metrics, seconds=time.perf_counter() - start)


def fit_all(data, seed: int = 0, limit: Bounds | None = None, threads: int = 1) -> list[Baseline]:
    """Every baseline of the data's task, fitted and scored within `limit` on `threads` threads; nothing
    is logged."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        fitted = (fit_regression if data.task == "regression" else fit_classification)(data, seed, limit)
    if limit is not None:
        for baseline in fitted:
            cap = limit.boosting_iterations
            stopped = cap is not None and baseline.params.get("n_iter") == cap
            baseline.bound = limit.note(len(data.labels["train"]), stopped)
            if baseline.bound:
                baseline.params["train_rows"] = limit.rows or len(data.labels["train"])
    return fitted


def logged(tracker, experiment_id: str, parent_id: str) -> list[Baseline]:
    """The baseline runs already under this parent run (a resumed study fits none again)."""
    runs = tracker.client.search_runs(
        [experiment_id], max_results=100,
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}' and tags.`harness.role` = '{ROLE}' "
                      "and attributes.status = 'FINISHED'")
    return [Baseline(r.data.tags["harness.baseline"], dict(r.data.params),
                     {k: v for k, v in r.data.metrics.items() if k.startswith(("val/", "test/"))}, r.info.run_id,
                     bound=r.data.tags.get("harness.bound"))
            for r in runs]


def ensure_baselines(spec, data, tracker, experiment_id: str, parent_id: str,
                     echo: Callable[[str], None] = print) -> list[Baseline]:
    """The study's baselines: read back from its parent run when there, otherwise fitted and logged now."""
    wanted = BASELINES[data.task]
    have = {b.name: b for b in logged(tracker, experiment_id, parent_id)}
    if all(name in have for name in wanted):
        return [have[name] for name in wanted]
    limit = bounds(spec, len(data.labels["train"]), data.n_features, data.n_classes, HGB_MAX_ITER)
    fitted = fit_all(data, spec.study.seed, limit, spec.train.threads or 1)
    for baseline in fitted:
        if baseline.bound:
            echo(f"  note: baseline {baseline.name} {baseline.bound}")
    for baseline in fitted:
        if baseline.name in have:
            baseline.run_id = have[baseline.name].run_id
            continue
        baseline.run_id = _log(tracker, experiment_id, parent_id, baseline)
        shown = "  ".join(f"{k}={v:.4g}" for k, v in sorted(baseline.metrics.items()) if k.startswith("val/"))
        echo(f"  baseline {baseline.name:<22} {shown}  [{baseline.seconds:.1f}s]")
    return fitted


def _log(tracker, experiment_id: str, parent_id: str, baseline: Baseline) -> str:
    from mlflow.entities import Param

    tags = {**tracker.base_tags, "harness.role": ROLE, "harness.baseline": baseline.name,
            "mlflow.parentRunId": parent_id, "harness.state": "COMPLETE",
            **({"harness.bound": baseline.bound} if baseline.bound else {})}
    run = tracker.client.create_run(experiment_id, run_name=f"baseline-{baseline.name}", tags=tags)
    run_id = run.info.run_id
    tracker.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in baseline.params.items()])
    tracker.log_metrics(run_id, {**baseline.metrics, "fit_seconds": baseline.seconds})
    tracker.client.set_terminated(run_id, status="FINISHED")
    return run_id


def compared_metric(metric: str, task: str, available: dict[str, float]) -> str:
    """The bare metric both sides are judged on: the study's own, else rmse or accuracy (a loss is not
    comparable across models trained on different losses)."""
    name = bare(metric)
    if f"test/{name}" in available and name != "loss":
        return name
    return "rmse" if task == "regression" else "accuracy"


def best(baselines: list[Baseline], name: str) -> Baseline | None:
    """The baseline a user would have picked: best on validation, as the champion was."""
    minimize = minimized(name)
    scored = [b for b in baselines if f"val/{name}" in b.metrics and f"test/{name}" in b.metrics]
    if not scored:
        return None
    return (min if minimize else max)(scored, key=lambda b: b.metrics[f"val/{name}"])


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def comparison_line(test: dict[str, float], metric: str, task: str, baselines: list[Baseline]) -> str | None:
    """`test/rmse 14,950 (champion) vs 15,210 (ridge, best baseline): champion better by 1.7%`."""
    if not baselines:
        return None
    name = compared_metric(metric, task, test)
    chosen = best(baselines, name)
    if chosen is None or f"test/{name}" not in test:
        return None
    mine, theirs = test[f"test/{name}"], chosen.metrics[f"test/{name}"]
    better = mine < theirs if minimized(name) else mine > theirs
    verdict = "tie" if mine == theirs else ("champion better" if better else "baseline better")
    if theirs and mine != theirs:
        verdict += f" by {abs(mine - theirs) / abs(theirs):.1%}"
    return (f"test/{name} {number(mine)} (champion) vs {number(theirs)} ({chosen.name}, best baseline): "
            f"{verdict}")

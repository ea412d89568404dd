"""The ensemble champion: at the end of a study, greedy selection over the best trials' validation
predictions (search/ensemble_selection.py); when the weighted ensemble scores better on validation than
the best trial alone, it is the model offered to the registry.

Every trial stores the predictions selection needs (`selection_predictions.npy` on its run: validation
rows, or out-of-fold predictions of train+val under cross-validation), so the crown reads small arrays
instead of re-running models. The ensemble gets a run of its own (`ensemble`, a child of the study's
parent run) holding its model, its members and weights and its scores; the parent run records the same
members and weights (`ensemble.json`, tag `harness.ensemble`).

When the study's metric is log loss, the averaged probabilities also get a temperature fitted on the same
rows (nn/calibration.py): it changes no predicted class, only how sure the model says it is. Then the best
trial alone, recalibrated, can be the champion too: an "ensemble" of one member and a temperature.

Beside the trials, selection is offered a linear model fitted on the same rows (study/linear_member.py,
`register.linear_member`): its weight, like a trial's, is earned on the selection rows.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import optuna
from mlflow.entities import Param
from mlflow.exceptions import MlflowException

from harness.data.folds import pooled_labels
from harness.data.prepare import Prepared
from harness.nn.calibration import calibrated, fit_temperature
from harness.nn.metrics import classification_metrics, regression_metrics
from harness.record.baselines import HGB_MAX_ITER
from harness.record.budget import bounds
from harness.record.tracking import Tracker
from harness.search.ensemble_selection import greedy_selection
from harness.search.samplers import multi_objective
from harness.serve.ensemble import EnsemblePredictor
from harness.serve.packaging import log_model
from harness.serve.predict import load_model
from harness.spec.names import bare, minimized
from harness.spec.schema import StudySpec
from harness.study.linear_member import LinearMember, fit_linear_member

SELECTION = "selection_predictions.npy"
CANDIDATES = 10  # the study's best trials offered to selection: more adds weak members and selection noise


@dataclass
class EnsembleChampion:
    run_id: str
    model_uri: str
    members: list[str]  # trial numbers ("3"), and the linear member's name when selection took it
    weights: list[float]
    val: dict[str, float]  # val/* of the ensemble's averaged predictions
    metric: str  # the bare metric selection optimized
    single: float  # the best single trial's score on it
    temperature: float = 1.0  # applied to the averaged class probabilities

    @property
    def trials(self) -> list[int]:
        return [int(m) for m in self.members if m.isdigit()]

    def describe(self) -> str:
        shown = [f"{m} ({w:.2f})" for m, w in zip(self.members, self.weights)]
        trials = [s for s, m in zip(shown, self.members) if m.isdigit()]
        linear = [s for s, m in zip(shown, self.members) if not m.isdigit()]
        if len(self.members) == 1:
            members = f"trial {self.members[0]} alone" if trials else f"{self.members[0]} alone"
        else:
            members = ("trials " if len(trials) > 1 else "trial ") + ", ".join(trials) + \
                "".join(f" and {s}" for s in linear)
        calibration = f" at temperature {self.temperature:.3g}" if self.temperature != 1.0 else ""
        return (f"{members}{calibration}: val/{self.metric} {self.val[f'val/{self.metric}']:.4g} against "
                f"{self.single:.4g} for the best trial alone")

    @property
    def tags(self) -> dict[str, str]:
        members = ",".join(f"{m}:{w:.4f}" for m, w in zip(self.members, self.weights))
        return {"harness.ensemble": members + (f";T={self.temperature:.4f}" if self.temperature != 1.0 else "")}


def wants_ensemble(spec: StudySpec) -> bool:
    """Whether this study's crown tries an ensemble (`register.ensemble`; never with several objectives,
    where the champion is a point of the Pareto front)."""
    return spec.registry.ensemble and not multi_objective(spec)


def save_selection(tracker: Tracker, run_id: str, values: np.ndarray) -> None:
    """A trial's predictions of the selection rows, as the artifact `selection_predictions.npy`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / SELECTION
        np.save(path, np.asarray(values, dtype=np.float64))
        tracker.client.log_artifact(run_id, str(path))


def load_selection(tracker: Tracker, run_id: str) -> np.ndarray | None:
    try:
        with tempfile.TemporaryDirectory() as folder:
            return np.load(tracker.client.download_artifacts(run_id, SELECTION, folder))
    except (MlflowException, OSError):
        return None  # a trial from before ensembles, or from a study run with register.ensemble: false


def selection_truth(spec: StudySpec, data: Prepared) -> np.ndarray:
    """The targets of the selection rows: regression values, or class indices in the order of data.classes."""
    truth = pooled_labels(data) if spec.study.folds > 1 else data.labels["val"]
    if data.task == "regression":
        return truth.astype(np.float64)
    index = {label: i for i, label in enumerate(data.classes)}
    return np.array([index[v] for v in truth])


def selection_scorer(spec: StudySpec, task: str, truth: np.ndarray) -> tuple[str, Callable[[np.ndarray], float], bool]:
    """The metric selection optimizes (the study's; `loss` becomes rmse or log loss, which every trial's
    predictions can be scored on), its scoring function on averaged predictions, and its direction."""
    name = bare(spec.study.metric)
    if task == "regression":
        name = "rmse" if name == "loss" else name
        return name, lambda values: regression_metrics(truth, values)[name], minimized(name)
    name = "log_loss" if name == "loss" else name
    return name, lambda values: classification_metrics(truth, values)[name], minimized(name)


def all_scores(task: str, truth: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """Every validation metric of averaged predictions (no val/loss: members trained on different losses)."""
    scores = regression_metrics(truth, values) if task == "regression" else classification_metrics(truth, values)
    return {f"val/{k}": v for k, v in scores.items()}


def choose_ensemble(study: optuna.Study, spec: StudySpec, data: Prepared, tracker: Tracker, experiment_id: str,
                    parent_id: str, echo: Callable[[str], None]) -> EnsembleChampion | None:
    """Greedy selection over the best trials (and the linear member); the ensemble, logged and packaged, if
    it beats the best trial alone on validation, else None (and a line saying why)."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and "model_uri" in t.user_attrs]
    done.sort(key=lambda t: t.value, reverse=study.direction == optuna.study.StudyDirection.MAXIMIZE)
    candidates, predictions = [], []
    truth = selection_truth(spec, data)
    for trial in done[:CANDIDATES]:
        values = load_selection(tracker, trial.user_attrs["mlflow_run_id"])
        if values is not None and len(values) == len(truth) and np.isfinite(values).all():
            candidates.append(trial)
            predictions.append(values)
    metric, score, minimize = selection_scorer(spec, data.task, truth)
    start = time.perf_counter()
    linear = offered_linear(spec, data, truth, echo) if candidates else None
    if linear is not None:
        echo(f"  linear member {linear.describe()}: val/{metric} {score(linear.values):.4g}  "
             f"[{time.perf_counter() - start:.1f}s]")
    labels = [str(t.number) for t in candidates] + ([linear.name] if linear else [])
    if linear is not None:
        predictions.append(linear.values)
    if len(predictions) < 2:
        return None
    singles = [score(p) for p in predictions[:len(candidates)]]
    single = (min if minimize else max)(singles)  # the best trial alone, whatever selection's first pick
    selection = greedy_selection(predictions, score, minimize)
    chosen = [i for i, w in enumerate(selection.weights) if w > 0]
    averaged = sum(w * p for w, p in zip(selection.weights, predictions))
    temperature = fit_temperature(averaged, truth) if metric == "log_loss" else 1.0
    if len(chosen) == 1 and chosen[0] < len(candidates) and temperature == 1.0:
        offered = f"the best {len(candidates)} trials" + (f" and {linear.name}" if linear else "")
        echo(f"ensemble: no mix of {offered} beats the best trial alone on val/{metric}")
        return None
    val = all_scores(data.task, truth, calibrated(averaged, temperature))
    members = [load_model(candidates[i].user_attrs["model_uri"], tracker.uri).unwrap_python_model().predictor
               if i < len(candidates) else linear.predictor for i in chosen]
    names, weights = [labels[i] for i in chosen], [float(selection.weights[i]) for i in chosen]
    trials = [candidates[i] for i in chosen if i < len(candidates)]
    linear_weight = next((w for i, w in zip(chosen, weights) if i >= len(candidates)), 0.0)
    record = {"members": names, "weights": weights, "trials": [t.number for t in trials],
              "run_ids": [t.user_attrs["mlflow_run_id"] for t in trials], "metric": f"val/{metric}",
              "ensemble": val[f"val/{metric}"], "best_single": single, "candidates": labels,
              "rounds": selection.rounds, "temperature": temperature, "uncalibrated": score(averaged),
              "linear": None if linear is None else {"model": linear.name, linear.penalty_name: linear.penalty,
                                                     "numeric": linear.numeric, "weight": linear_weight,
                                                     f"val/{metric}": score(linear.values)}}
    champion = EnsembleChampion("", "", names, weights, val, metric, single, temperature)
    earlier = earlier_ensemble(tracker, experiment_id, parent_id, champion.tags["harness.ensemble"])
    if earlier is not None:  # a crown cut short made it already: the registry must get that run, not another
        champion.run_id, champion.model_uri = earlier
        return champion
    ensemble = EnsemblePredictor.of(members, weights, {"members": names, "weights": weights}, temperature)
    tags = {**tracker.base_tags, "harness.role": "ensemble", "mlflow.parentRunId": parent_id, **champion.tags}
    run_id = tracker.client.create_run(experiment_id, run_name="ensemble", tags=tags).info.run_id
    params = {"members": ",".join(names), "trials": ",".join(str(t.number) for t in trials),
              "weights": ",".join(f"{w:.4f}" for w in weights), "selection_rounds": str(selection.rounds),
              "temperature": f"{temperature:.4g}",
              **({"linear_member": linear.describe()} if linear_weight > 0 else {})}
    tracker.client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    tracker.log_metrics(run_id, {**val, f"best_single/val/{metric}": single})
    model_uri = log_model(tracker.client, experiment_id, run_id, ensemble, data.raw["train"])
    tracker.client.log_text(run_id, json.dumps(record, indent=2), "ensemble.json")
    tracker.client.log_text(parent_id, json.dumps(record, indent=2), "ensemble.json")
    champion.run_id, champion.model_uri = run_id, model_uri
    tracker.set_tags(parent_id, champion.tags)
    tracker.finish(run_id, "FINISHED")
    return champion


def offered_linear(spec: StudySpec, data: Prepared, truth: np.ndarray,
                   echo: Callable[[str], None]) -> LinearMember | None:
    """The linear member selection may take (`register.linear_member`); None for images, and for tables
    whose baselines had to be bounded (its penalty search costs as much), with a line saying so."""
    if not spec.registry.linear_member or data.input_shape is not None:
        return None
    n_train = len(data.labels["train"])
    limit = bounds(spec, n_train, data.n_features, data.n_classes, HGB_MAX_ITER)
    if limit.rows is not None:
        echo(f"  note: no linear member offered to the ensemble: {n_train:,} training rows are more than the "
             "baselines' budget allows")
        return None
    return fit_linear_member(spec, data, truth)


def earlier_ensemble(tracker: Tracker, experiment_id: str, parent_id: str, members: str) -> tuple[str, str] | None:
    """The run and model of the same ensemble (members and weights) made by an earlier crown of this study
    that was cut short before it finished; an ensemble run such a crown left unfinished ends FAILED."""
    mine = f"tags.`mlflow.parentRunId` = '{parent_id}' and tags.`harness.role` = 'ensemble'"
    runs = tracker.client.search_runs([experiment_id], filter_string=mine)
    for run in runs:
        if run.info.status == "RUNNING":
            tracker.finish(run.info.run_id, "FAILED", "the crown that made it was cut short; the next crown made "
                                                      "or reused another")
        elif run.info.status == "FINISHED" and run.data.tags.get("harness.ensemble") == members:
            outputs = tracker.client.get_run(run.info.run_id).outputs
            models = outputs.model_outputs if outputs else []
            if models:
                return run.info.run_id, f"models:/{models[0].model_id}"
    return None

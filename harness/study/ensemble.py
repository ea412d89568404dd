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
"""

from __future__ import annotations

import json
import tempfile
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
from harness.record.tracking import Tracker
from harness.search.ensemble_selection import greedy_selection
from harness.search.samplers import multi_objective
from harness.serve.ensemble import EnsemblePredictor
from harness.serve.packaging import log_model
from harness.serve.predict import load_model
from harness.spec.names import bare, minimized
from harness.spec.schema import StudySpec

SELECTION = "selection_predictions.npy"
CANDIDATES = 10  # the study's best trials offered to selection: more adds weak members and selection noise


@dataclass
class EnsembleChampion:
    run_id: str
    model_uri: str
    trials: list[int]
    weights: list[float]
    val: dict[str, float]  # val/* of the ensemble's averaged predictions
    metric: str  # the bare metric selection optimized
    single: float  # the best single trial's score on it
    temperature: float = 1.0  # applied to the averaged class probabilities

    def describe(self) -> str:
        members = ", ".join(f"{t} ({w:.2f})" for t, w in zip(self.trials, self.weights))
        members = f"trials {members}" if len(self.trials) > 1 else f"trial {self.trials[0]} alone"
        calibration = f" at temperature {self.temperature:.3g}" if self.temperature != 1.0 else ""
        return (f"{members}{calibration}: val/{self.metric} {self.val[f'val/{self.metric}']:.4g} against "
                f"{self.single:.4g} for the best trial alone")

    @property
    def tags(self) -> dict[str, str]:
        members = ",".join(f"{t}:{w:.4f}" for t, w in zip(self.trials, self.weights))
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
    """Greedy selection over the best trials; the ensemble, logged and packaged, if it beats the best trial
    alone on validation, else None (and a line saying why)."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and "model_uri" in t.user_attrs]
    done.sort(key=lambda t: t.value, reverse=study.direction == optuna.study.StudyDirection.MAXIMIZE)
    candidates, predictions = [], []
    truth = selection_truth(spec, data)
    for trial in done[:CANDIDATES]:
        values = load_selection(tracker, trial.user_attrs["mlflow_run_id"])
        if values is not None and len(values) == len(truth) and np.isfinite(values).all():
            candidates.append(trial)
            predictions.append(values)
    if len(candidates) < 2:
        return None
    metric, score, minimize = selection_scorer(spec, data.task, truth)
    selection = greedy_selection(predictions, score, minimize)
    chosen = [(t, w) for t, w in zip(candidates, selection.weights) if w > 0]
    averaged = sum(w * p for w, p in zip(selection.weights, predictions))
    temperature = fit_temperature(averaged, truth) if metric == "log_loss" else 1.0
    if len(chosen) < 2 and temperature == 1.0:
        echo(f"ensemble: no mix of the best {len(candidates)} trials beats the best one alone on val/{metric}")
        return None
    val = all_scores(data.task, truth, calibrated(averaged, temperature))
    members = [load_model(t.user_attrs["model_uri"], tracker.uri).unwrap_python_model().predictor for t, _ in chosen]
    trials, weights = [t.number for t, _ in chosen], [float(w) for _, w in chosen]
    record = {"trials": trials, "weights": weights, "run_ids": [t.user_attrs["mlflow_run_id"] for t, _ in chosen],
              "metric": f"val/{metric}", "ensemble": val[f"val/{metric}"], "best_single": selection.single,
              "candidates": [t.number for t in candidates], "rounds": selection.rounds, "temperature": temperature,
              "uncalibrated": score(averaged)}
    champion = EnsembleChampion("", "", trials, weights, val, metric, selection.single, temperature)
    earlier = earlier_ensemble(tracker, experiment_id, parent_id, champion.tags["harness.ensemble"])
    if earlier is not None:  # a crown cut short made it already: the registry must get that run, not another
        champion.run_id, champion.model_uri = earlier
        return champion
    ensemble = EnsemblePredictor.of(members, weights, {"trials": trials, "weights": weights}, temperature)
    tags = {**tracker.base_tags, "harness.role": "ensemble", "mlflow.parentRunId": parent_id, **champion.tags}
    run_id = tracker.client.create_run(experiment_id, run_name="ensemble", tags=tags).info.run_id
    tracker.client.log_batch(run_id, params=[Param("trials", ",".join(map(str, trials))),
                                             Param("weights", ",".join(f"{w:.4f}" for w in weights)),
                                             Param("selection_rounds", str(selection.rounds)),
                                             Param("temperature", f"{temperature:.4g}")])
    tracker.log_metrics(run_id, {**val, f"best_single/val/{metric}": selection.single})
    model_uri = log_model(tracker.client, run_id, ensemble, data.raw["train"])
    tracker.client.log_text(run_id, json.dumps(record, indent=2), "ensemble.json")
    tracker.client.log_text(parent_id, json.dumps(record, indent=2), "ensemble.json")
    champion.run_id, champion.model_uri = run_id, model_uri
    tracker.set_tags(parent_id, champion.tags)
    tracker.finish(run_id, "FINISHED")
    return champion


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

"""The crown: the best trial (or the Pareto front's best primary metric) scored once on the untouched test
split, recorded on the parent run, and offered to the registry, which moves the alias only if it is better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import optuna

from harness.data.prepare import Prepared
from harness.errors import HarnessError
from harness.nn.metrics import score_predictions
from harness.record import baselines as reference
from harness.record.tracking import Tracker
from harness.search import objectives, pareto
from harness.search.samplers import multi_objective
from harness.serve.predict import load_model
from harness.serve.registry import Decision, promote
from harness.spec.names import bare, minimized, task_metrics
from harness.spec.schema import StudySpec
from harness.study.crossval import cost_line
from harness.study.ensemble import choose_ensemble, wants_ensemble


@dataclass
class StudyResult:
    name: str
    metric: str
    states: dict[str, int]
    best_trial: int
    best_val: dict[str, float]
    test: dict[str, float]
    decision: Decision
    model_name: str
    alias: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    notes: list[str] = field(default_factory=list)
    pareto_front: list[int] | None = None  # multi-objective: the trial numbers on the front
    baselines: list[reference.Baseline] = field(default_factory=list)
    vs_baselines: str | None = None  # the champion's test metric against the best baseline's
    images: bool = False  # the model takes arrays of images rather than a table
    ensemble: str | None = None  # the ensemble champion's members, weights and validation gain
    ensemble_trials: list[int] = field(default_factory=list)  # the trials among its members
    selection: str | None = None  # how trials were scored, when by cross-validation, and what it cost
    run_id: str = ""  # the run of the model offered to the registry: the best trial's, or the ensemble's
    model_uri: str = ""


def crown(study: optuna.Study, spec: StudySpec, data: Prepared, tracker: Tracker, experiment_id: str,
          parent_id: str, echo: Callable[[str], None]) -> StudyResult:
    """Score the best trial once on the test split, record it, and offer it to the registry."""
    states: dict[str, int] = {}
    for t in study.trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and "model_uri" in t.user_attrs]
    if not completed:
        tracker.finish(parent_id, "FAILED", "no trial completed")
        raise HarnessError(f"study {spec.name}: no trial completed ({states}); see the failed runs' "
                           "harness.reason tag in the MLflow UI for why")
    front = None
    if multi_objective(spec):
        best, front = record_front(study, spec, tracker, parent_id, echo)
    else:
        best = study.best_trial
    run_id, model_uri = best.user_attrs["mlflow_run_id"], best.user_attrs["model_uri"]
    ensemble = choose_ensemble(study, spec, data, tracker, experiment_id, parent_id, echo) \
        if front is None and wants_ensemble(spec) else None
    if ensemble is not None:  # the champion is the ensemble: its run holds the model and its val metrics
        run_id, model_uri = ensemble.run_id, ensemble.model_uri

    def score_on_test(uri: str) -> dict[str, float]:
        predictions = load_model(uri, tracker.uri).predict(data.raw["test"])
        if not np.isfinite(predictions.select_dtypes("number").to_numpy(np.float64)).all():
            return dict.fromkeys(task_metrics(data.task)[:-1], float("nan"))  # scikit-learn would raise
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing error is reported below, not warned
            return score_predictions(predictions, data.labels["test"], data.task, data.classes)

    test = {f"test/{k}": v for k, v in score_on_test(model_uri).items()}
    if ensemble is not None:  # for the record, not for choosing: what the best trial alone scores on test
        single = {f"test/{k}": v for k, v in score_on_test(best.user_attrs["model_uri"]).items()}
        tracker.log_metrics(best.user_attrs["mlflow_run_id"], single)
    best_val = {k: v for k, v in tracker.client.get_run(run_id).data.metrics.items() if k.startswith("val/")}
    tracker.log_metrics(run_id, test)
    tracker.log_metrics(parent_id, {**best_val, **test, "best_trial": best.number})
    tracker.set_tags(parent_id, {"harness.best_trial": str(best.number), "harness.champion_run_id": run_id,
                                 "harness.best_run_id": best.user_attrs["mlflow_run_id"]})

    test_metric = "test/" + bare(spec.study.metric)
    if test_metric not in test:
        test_metric = "test/" + ("rmse" if data.task == "regression" else "accuracy")
    refuse_unscored(spec, tracker, parent_id, best.number, test_metric, test[test_metric])
    decision = promote(
        tracker.client, spec.registry.name, spec.registry.alias, model_uri, run_id, test[test_metric], test_metric,
        minimize=minimized(test_metric),
        score_holder=lambda uri: score_on_test(uri)[bare(test_metric)],
        tags={"harness.study": spec.name, "harness.trial": str(best.number), "harness.run_id": run_id,
              test_metric: f"{test[test_metric]:.6g}", **(ensemble.tags if ensemble else {})},
    )
    return StudyResult(spec.name, spec.study.metric, states, best.number, best_val, test, decision,
                       spec.registry.name, spec.registry.alias, tracker.uri, experiment_id, parent_id, data.notes,
                       front, images=data.input_shape is not None,
                       ensemble=ensemble.describe() if ensemble else None,
                       ensemble_trials=ensemble.trials if ensemble else [], selection=cost_line(study, spec, data),
                       run_id=run_id, model_uri=model_uri)


def refuse_unscored(spec: StudySpec, tracker: Tracker, parent_id: str, trial: int, metric: str, value: float) -> None:
    """A champion must have a finite test score: inf or NaN means its predictions on the test rows overflow or
    are undefined, and such a model must not take (or be compared for) the alias."""
    if math.isfinite(value):
        return
    reason = (f"trial {trial}, the best on validation, scored {metric} = {value} on the test split, so it is not "
              "registered (its test predictions, or their errors, are not finite numbers)")
    tracker.finish(parent_id, "FAILED", reason)
    raise HarnessError(f"study {spec.name}: {reason}; look for extreme values in the data, or narrow the search "
                       "(e.g. lower train.lr)")


def record_front(study: optuna.Study, spec: StudySpec, tracker: Tracker, parent_id: str,
                 echo: Callable[[str], None]) -> tuple[optuna.trial.FrozenTrial, list[int]]:
    """Log the Pareto front on the parent run; return the champion (the front's best primary metric)."""
    names, directions = objectives.objective_names(spec), objectives.directions(spec)
    trials = pareto.front(study)
    best = pareto.champion(trials, names, directions, spec.study.metric)
    rows = pareto.rows(trials, names)
    tracker.client.log_text(parent_id, pareto.as_json(rows, names, directions, spec.study.metric, best.number),
                            "pareto_front.json")
    tracker.client.log_text(parent_id, pareto.as_csv(rows, names), "pareto_front.csv")
    tracker.log_metrics(parent_id, {"pareto_front_size": len(trials)})
    tracker.set_tags(parent_id, {"harness.pareto_front": ",".join(str(t.number) for t in trials)})
    echo(f"pareto front: {len(trials)} trials ({', '.join(str(t.number) for t in trials)}); the champion is "
         f"trial {best.number}, the best {spec.study.metric} among them (pareto_front.json on the parent run)")
    return best, [t.number for t in trials]

"""The Pareto front of a multi-objective study, and the champion picked from it by the primary metric.

The front is Optuna's `study.best_trials` (complete trials that no other complete trial beats on every
objective). It is written as rows (trial number, run id, objective values, params) that the study records
on its parent run as `pareto_front.json` and `pareto_front.csv`.
"""

from __future__ import annotations

import csv
import io
import json

import optuna

MODEL_ATTR = "model_uri"
RUN_ATTR = "mlflow_run_id"


def front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The front's trials that logged a model, by trial number."""
    return sorted((t for t in study.best_trials if MODEL_ATTR in t.user_attrs), key=lambda t: t.number)


def champion(trials: list[optuna.trial.FrozenTrial], objectives: list[str], directions: list[str],
             primary: str) -> optuna.trial.FrozenTrial:
    """The front's best trial by the primary objective (the lowest trial number among ties)."""
    index = objectives.index(primary)
    sign = 1.0 if directions[index] == "minimize" else -1.0
    return min(trials, key=lambda t: (sign * t.values[index], t.number))


def rows(trials: list[optuna.trial.FrozenTrial], objectives: list[str]) -> list[dict]:
    return [{"trial": t.number, "run_id": t.user_attrs.get(RUN_ATTR),
             "values": dict(zip(objectives, t.values)), "params": t.params} for t in trials]


def as_json(front_rows: list[dict], objectives: list[str], directions: list[str], primary: str,
            champion_trial: int) -> str:
    return json.dumps({"objectives": objectives, "directions": directions, "primary": primary,
                       "champion_trial": champion_trial, "front": front_rows}, indent=2, default=str)


def as_csv(front_rows: list[dict], objectives: list[str]) -> str:
    """One line per front trial: trial, run_id, the objectives, then every parameter any of them has."""
    params = sorted({k for row in front_rows for k in row["params"]})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", "run_id", *objectives, *params])
    for row in front_rows:
        writer.writerow([row["trial"], row["run_id"], *(row["values"][o] for o in objectives),
                         *(row["params"].get(p, "") for p in params)])
    return out.getvalue()

"""Multi-objective studies: one value per objective, every objective on every trial run, no pruning, the
Pareto front on the parent run, and the champion taken from the front by the primary metric."""

from __future__ import annotations

import json
import math
import re

import torch
from mlflow import MlflowClient
from stores import Store, store  # noqa: F401  (the shared-store fixture)

from harness.search.objectives import directions, latency_ms
from harness.spec.schema import build_spec, load_spec


def dominates(a: list[float], b: list[float]) -> bool:
    """a is no worse than b on every (minimized) objective and better on one."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def test_shipped_multi_objective_study_records_a_front_and_a_champion(store: Store) -> None:
    spec = load_spec("experiments/house_prices_pareto.yaml",
                     ["train.epochs=4", "study.pruner=median"])  # median: to see it switched off
    lines: list[str] = []
    result, study = store.run(spec, "pareto", trials=5, echo=lines.append)
    assert any("Optuna cannot prune multi-objective studies; pruner median is off" in line for line in lines)
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5
    assert all(t.intermediate_values == {} for t in trials)  # nothing reported, so nothing to prune

    # The front, computed here from the trials' values, is the one recorded.
    expected = sorted(t.number for t in trials if not any(dominates(u.values, t.values) for u in trials))
    client = MlflowClient(store.tracking_uri)
    parent = client.get_run(result.parent_run_id)
    recorded = json.loads(open(client.download_artifacts(parent.info.run_id, "pareto_front.json")).read())
    assert recorded["objectives"] == ["val/rmse", "n_parameters"]
    assert recorded["directions"] == ["minimize", "minimize"] and recorded["primary"] == "val/rmse"
    assert [row["trial"] for row in recorded["front"]] == expected == result.pareto_front
    assert parent.data.metrics["pareto_front_size"] == len(expected)
    assert parent.data.tags["harness.pareto_front"] == ",".join(map(str, expected))
    csv_lines = open(client.download_artifacts(parent.info.run_id, "pareto_front.csv")).read().splitlines()
    assert csv_lines[0].startswith("trial,run_id,val/rmse,n_parameters,") and len(csv_lines) == len(expected) + 1

    # Every trial run logs every objective, with the values Optuna got.
    by_number = {t.number: t for t in trials}
    for row in recorded["front"]:
        run = client.get_run(row["run_id"])
        assert run.data.tags["harness.trial"] == str(row["trial"])
        assert [run.data.metrics["val/rmse"], run.data.metrics["n_parameters"]] == by_number[row["trial"]].values
    # Trial 0 is the enqueued linear model: one weight per encoded feature and a bias.
    n_features = int(re.search(r"(\d+) features after encoding", lines[0]).group(1))
    assert by_number[0].params["family"] == "linear" and by_number[0].values[1] == n_features + 1

    # The champion: the front's lowest validation RMSE, registered and holding the alias.
    champion = min(expected, key=lambda n: by_number[n].values[0])
    assert recorded["champion_trial"] == champion == result.best_trial
    version = client.get_model_version_by_alias("pareto", "champion")
    assert version.tags["harness.trial"] == str(champion)


def test_directions_follow_the_objective_names() -> None:
    raw = {"name": "d", "data": {"source": "sklearn:iris"},
           "study": {"objectives": ["val/accuracy", "latency_ms", "val/log_loss"]}}
    spec = build_spec(raw, "test").resolved("classification")
    assert spec.study.metric == "val/accuracy"  # the first validation objective is the primary one
    assert directions(spec) == ["maximize", "minimize", "minimize"]


def test_latency_is_per_thousand_rows() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    X = torch.randn(500, 8)
    ms = latency_ms(model, X)
    assert math.isfinite(ms) and 0 < ms < 1000
    assert not model.training  # measured in eval mode

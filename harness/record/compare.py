"""A study's runs side by side, read back from MLflow (`harness runs STUDY`): trials and baselines, the
study metric first and sorted on, then the other validation metrics, the test score where there is one,
and only the params that differ between the trials shown (a baseline's settings stay in its own run).
"""

from __future__ import annotations

import math

import pandas as pd

from harness.errors import HarnessError
from harness.spec.names import bare, minimized

MAX_RUNS = 5000


def _parent(client, experiment_id: str, study: str):
    parents = client.search_runs([experiment_id], filter_string="tags.`harness.role` = 'study'", max_results=1,
                                 order_by=["attributes.start_time DESC"])
    if not parents:
        raise HarnessError(f"study {study!r} has no parent run in this store; run it first")
    return parents[0]


def study_table(client, study: str, top: int | None = None) -> tuple[pd.DataFrame, str]:
    """The comparison table of a study's trial and baseline runs, best first; returns it and the metric."""
    experiment = client.get_experiment_by_name(study)
    if experiment is None:
        names = [e.name for e in client.search_experiments(max_results=50) if e.name != "Default"]
        raise HarnessError(f"no study {study!r} in this store; studies here: {', '.join(names) or 'none'} "
                           "(or give --tracking-uri)")
    parent = _parent(client, experiment.experiment_id, study)
    metric = parent.data.params.get("study.metric") or "val/" + ("rmse" if parent.data.tags.get(
        "harness.task") == "regression" else "accuracy")
    runs = client.search_runs(
        [experiment.experiment_id], max_results=MAX_RUNS,
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    rows = []
    for run in runs:
        metrics, tags = run.data.metrics, run.data.tags
        row = {"run": run.info.run_name, "state": tags.get("harness.state", run.info.status).lower(),
               metric: metrics.get(metric, math.nan)}
        row.update({k: v for k, v in sorted(metrics.items()) if k.startswith("val/") and k != metric})
        test = "test/" + bare(metric)
        row[test] = metrics.get(test, math.nan)
        if "best_epoch" in metrics:
            row["best_epoch"] = int(metrics["best_epoch"])
        if tags.get("harness.role") == "trial":  # a baseline's settings are in its own run, not comparable
            row.update({f"param:{k}": v for k, v in run.data.params.items()})
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["run", "state", metric]), metric
    table = pd.DataFrame(rows)
    table = table.sort_values(metric, ascending=minimized(metric), na_position="last", kind="stable")
    if top:
        table = table.head(top)
    params = [c for c in table.columns if c.startswith("param:")]
    same = [c for c in params if table[c].dropna().nunique() <= 1]  # the same wherever the param applies
    table = table.drop(columns=same).rename(columns={c: c.removeprefix("param:") for c in params})
    return table.dropna(axis=1, how="all").reset_index(drop=True), metric

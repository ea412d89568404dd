"""`harness study`: run or resume a study (a study file, or quick mode on a table), then the summary."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import app, fail, quiet_libraries
from harness.errors import HarnessError


@app.command()
def study(
    study_file: Optional[Path] = typer.Argument(None, help="Study file, e.g. experiments/house_prices.yaml."),
    data: Optional[str] = typer.Option(None, "--data", help="Quick mode: a CSV/Parquet file, no study file needed."),
    target: Optional[str] = typer.Option(None, "--target", help="Quick mode: the column to predict."),
    task: str = typer.Option("auto", "--task", help="Quick mode: regression, classification or auto."),
    name: Optional[str] = typer.Option(None, "--name", help="Quick mode: study name (default: the file's name)."),
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Trials to run now (overrides study.trials)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=1, help="Seconds after which no trial starts."),
    set_: list[str] = typer.Option([], "--set", help="Override any value: --set train.epochs=50 (repeatable)."),
    storage: Optional[str] = typer.Option(None, "--storage", envvar="HARNESS_STORAGE",
                                          help="Optuna storage: a database URL or a journal file path."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow tracking URI "
                                               "(default: $MLFLOW_TRACKING_URI, else sqlite in ./mlruns)."),
    warm_start_from: Optional[str] = typer.Option(None, "--warm-start-from", metavar="STUDY",
                                                  help="Try the best 3 trials of this earlier study (same "
                                                       "Optuna storage) first."),
) -> None:
    """Run (or resume) a study: every trial a child run in MLflow, the best one registered as champion."""
    if (study_file is None) == (data is None):
        fail("give a study file (harness study experiments/house_prices.yaml) or --data FILE --target COLUMN")
    if data is not None and not target:
        fail(f"--data {data} needs --target COLUMN: the column to predict")
    if task not in ("auto", "regression", "classification"):
        fail(f"--task must be auto, regression or classification, got {task!r}")
    quiet_libraries()
    try:
        from harness.spec.quick import quick_spec
        from harness.spec.schema import load_spec

        spec = load_spec(study_file, set_) if study_file else quick_spec(data, target, task, name, set_)
        if study_file is None:
            typer.echo(f"quick mode: {spec.description}")
        from harness.study import run_study

        result = run_study(spec, trials=trials, timeout=timeout, storage=storage, tracking_uri=tracking_uri,
                           warm_start_from=warm_start_from, echo=typer.echo)
    except HarnessError as err:
        fail(str(err))
    typer.echo(summary(result))


def summary(result) -> str:
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.states.items()))
    fmt = lambda metrics: "  ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
    store = result.tracking_uri
    ui = (f"mlflow ui --backend-store-uri {store}" if store.startswith(("sqlite:", "postgresql", "mysql"))
          else f"open {store}")
    uri = f"models:/{result.model_name}@{result.alias}"
    env = "" if os.environ.get("MLFLOW_TRACKING_URI") == store else f"MLFLOW_TRACKING_URI={store} "
    return "\n".join([
        "",
        f"study {result.name}: {states}",
        f"best trial   {result.best_trial}",
        *([f"ensemble     {result.ensemble}"] if result.ensemble else []),
        *([f"selection    {result.selection}"] if result.selection else []),
        f"  validation {fmt(result.best_val)}",
        f"  test       {fmt(result.test)}",
        *([f"vs baselines {result.vs_baselines}"] if result.vs_baselines else []),
        f"champion     {result.decision.message}",
        f"compare runs {ui}   (experiment {result.experiment_id}, parent run {result.parent_run_id})",
        f"predict      {env}harness predict {uri} {'IMAGES.npz' if result.images else 'YOUR.csv'}",
    ])

"""`harness study`: run or resume a study (a study file, or quick mode on a table), then the summary."""

from __future__ import annotations

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
    drop: list[str] = typer.Option([], "--drop", metavar="COL[,COL]",
                                   help="Quick mode: columns to leave out (identifiers are dropped anyway)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, only the summary at the end."),
) -> None:
    """Run (or resume) a study: every trial a child run in MLflow, the best one registered as champion."""
    if (study_file is None) == (data is None):
        fail("give a study file (harness study experiments/house_prices.yaml) or --data FILE --target COLUMN")
    if data is not None and not target:
        fail(f"--data {data} needs --target COLUMN: the column to predict")
    if task not in ("auto", "regression", "classification"):
        fail(f"--task must be auto, regression or classification, got {task!r}")
    if drop and study_file is not None:
        fail("--drop is for quick mode (--data); in a study file, list the columns under data.drop")
    quiet_libraries()
    from harness.cli.progress import Progress
    from harness.cli.summary import summary

    progress = Progress.for_terminal(quiet)
    try:
        if study_file:
            from harness.spec.schema import load_spec

            spec = load_spec(study_file, set_)
        else:
            from harness.spec.quick import quick_spec  # pandas: imported only when a table is read

            dropped = [c.strip() for item in drop for c in item.split(",") if c.strip()]
            spec = quick_spec(data, target, task, name, set_, drop=dropped)
        if study_file is None:
            progress.echo(f"quick mode: {spec.description}")
        from harness.study import run_study

        result = run_study(spec, trials=trials, timeout=timeout, storage=storage, tracking_uri=tracking_uri,
                           warm_start_from=warm_start_from, echo=progress.echo, progress=progress)
    except HarnessError as err:
        fail(str(err))
    finally:
        progress.close()
    typer.echo(summary(result, spec))


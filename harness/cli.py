"""The `harness` command. Heavy libraries are imported inside the commands, so `--help` answers at once.

A user's mistake (HarnessError) is one line on stderr and exit code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import NoReturn, Optional

import typer

from harness.errors import HarnessError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hyperparameter studies of PyTorch models, tracked in MLflow, ending in a registered champion.")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def quiet_libraries() -> None:
    """No telemetry (there is no network) and none of the deprecation chatter of the stack's versions."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*noload.*")
    warnings.filterwarnings("ignore", module="mlflow")
    import logging

    import mlflow  # noqa: F401  (it configures its loggers on import; quiet them after that)

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


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
        f"  validation {fmt(result.best_val)}",
        f"  test       {fmt(result.test)}",
        *([f"vs baselines {result.vs_baselines}"] if result.vs_baselines else []),
        f"champion     {result.decision.message}",
        f"compare runs {ui}   (experiment {result.experiment_id}, parent run {result.parent_run_id})",
        f"predict      {env}harness predict {uri} {'IMAGES.npz' if result.images else 'YOUR.csv'}",
    ])


@app.command()
def predict(
    model_uri: str = typer.Argument(..., help="e.g. models:/house-prices@champion or runs:/<run id>/model"),
    file: Path = typer.Argument(..., help="A raw CSV/Parquet table (extra columns such as the target are ignored); "
                                "for a model of images, an .npz (array `images`) or a folder of image files."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write predictions to this CSV."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
) -> None:
    """Predict one row per input row (or image) with a registered (or logged) model."""
    quiet_libraries()
    try:
        from harness.record.tracking import default_tracking_uri
        from harness.serve.predict import predict_file

        result = predict_file(model_uri, file, tracking_uri or default_tracking_uri())
    except HarnessError as err:
        fail(str(err))
    if output:
        partial = output.with_name(output.name + ".partial")
        result.to_csv(partial, index=False)
        partial.replace(output)  # never a half-written file
        typer.echo(f"wrote {len(result)} predictions to {output}", err=True)
    else:
        result.to_csv(sys.stdout, index=False)


@app.command()
def ui(
    port: int = typer.Option(5000, "--port"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="Default: the embedded store."),
) -> None:
    """Open the MLflow UI on the embedded store (or --tracking-uri)."""
    from harness.record.tracking import default_tracking_uri

    store = tracking_uri or default_tracking_uri()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    os.execv(str(mlflow_bin), [str(mlflow_bin), "ui", "--backend-store-uri", store,
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"])


def main() -> None:
    app()

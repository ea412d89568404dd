"""The Typer app every `harness` command registers on, and what they share: one-line errors, quiet
libraries. Heavy libraries are imported inside the commands, so `--help` answers at once.

A user's mistake (HarnessError) is one line on stderr and exit code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import os
import warnings
from typing import NoReturn

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hyperparameter studies of PyTorch models, tracked in MLflow, ending in a registered champion.")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def quiet_libraries() -> None:
    """No telemetry (there is no network) and none of the deprecation chatter of the stack's versions.
    Set before MLflow is imported (it is imported later, when a command first needs it: a second saved)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow configures its loggers on import from it
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*noload.*")
    warnings.filterwarnings("ignore", module="mlflow")
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)

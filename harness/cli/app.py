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


def echo(line: str) -> None:
    """A line on stdout, with any password in a URI masked."""
    from harness.errors import mask_credentials

    typer.echo(mask_credentials(line))


def fail(message: str) -> NoReturn:
    from harness.errors import mask_credentials

    typer.echo(f"error: {mask_credentials(message)}", err=True)
    raise typer.Exit(2)


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM (a scheduler's stop, `kill`) end the running trial cleanly at its next epoch."""
    from harness.signals import defer

    defer()


def interrupted(err: KeyboardInterrupt, say: bool = True) -> NoReturn:
    """Exit 130 after Ctrl-C, 143 after SIGTERM, with one line instead of a traceback."""
    if say:
        typer.echo("interrupted: the running trials ended as `interrupted`; run the same command to resume",
                   err=True)
    raise typer.Exit(getattr(err, "exit_code", 130))


def quiet_libraries() -> None:
    """No telemetry (there is no network) and none of the deprecation chatter of the stack's versions."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # "View run at" per run on a server
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*noload.*")
    warnings.filterwarnings("ignore", module="mlflow")
    import logging

    import mlflow  # noqa: F401  (it configures its loggers on import; quiet them after that)

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

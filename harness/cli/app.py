"""The Typer app every `harness` command registers on, and what they share: one-line errors, quiet
libraries. Heavy libraries are imported inside the commands, so `--help` answers at once.

A user's mistake (HarnessError) is one line on stderr and exit code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import NoReturn

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hyperparameter studies of PyTorch models, tracked in MLflow, ending in a registered champion.")


def storage_option():
    """`--storage`, the same for every command that opens a study."""
    return typer.Option(None, "--storage", envvar="HARNESS_STORAGE",
                        help="Optuna storage: a database URL or a journal file path (default: the study's journal "
                             "in ./mlruns/optuna).")


def tracking_option():
    """`--tracking-uri`, the same for every command that reads or writes MLflow."""
    return typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                        "sqlite in ./mlruns).")


def one_line(message: str) -> str:
    """A message on one line, however many lines a library's text had."""
    return " ".join(message.split())


def echo(line: str) -> None:
    """A line on stdout, with any password in a URI masked."""
    from harness.errors import mask_credentials

    typer.echo(mask_credentials(line))


def fail(message: str) -> NoReturn:
    from harness.errors import mask_credentials

    typer.echo(f"error: {one_line(mask_credentials(message))}", err=True)
    raise typer.Exit(2)


def run(args: list[str] | None = None) -> NoReturn:
    """Run the app. A mistake on the command line (an unknown option, `--trials 0`) is one line like every
    other error, not Typer's box of usage text."""
    args = sys.argv[1:] if args is None else list(args)
    if not args:
        app(args=args)  # plain `harness`: the help is the answer (and Typer exits)
    try:
        code = app(args=args, standalone_mode=False)
    except typer.TyperException as err:  # Typer's usage errors (bad option, bad value) and file errors
        ctx = getattr(err, "ctx", None)
        command = ctx.command_path if ctx is not None else "harness"
        typer.echo(f"error: {command}: {one_line(err.format_message())} (see {command} --help)", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    sys.exit(code or 0)


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
    """No telemetry (there is no network) and none of the deprecation chatter of the stack's versions.
    Set before MLflow is imported (it is imported later, when a command first needs it: a second saved)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow configures its loggers on import from it
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # "View run at" per run on a server
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*noload.*")
    warnings.filterwarnings("ignore", module="mlflow")
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)

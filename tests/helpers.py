"""Helpers for tests: the real CLI in a process of its own, and a client on the test's MLflow store."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = [sys.executable, "-m", "harness"]


_forked = None  # this pytest process's forking server (forked_cli.py), started by the first run_cli


def forked_cli():
    """The forking server every `run_cli` of this pytest process (one xdist worker) shares."""
    global _forked
    if _forked is None:
        from forked_cli import ForkedCli

        _forked = ForkedCli()
        atexit.register(_forked.close)
    return _forked


def run_cli(*args: str, cwd: Path | None = None, check: bool = True,
            fresh: bool = False) -> subprocess.CompletedProcess:
    """Run the real `harness` entry point in a process of its own, with the test's working directory and
    environment: forked from a server that has already imported the stack (forked_cli.py: 3 to 4 s of
    imports a command less), or with `fresh`, a new interpreter. The import path itself is covered by
    test_cli_startup.py and by every command the tests start with `fleet.start` (and the workers a study
    starts), all fresh interpreters."""
    cwd = Path(cwd or os.getcwd())
    if fresh:
        proc = subprocess.run([*HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    else:
        proc = forked_cli().run(list(args), cwd, dict(os.environ), timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"harness {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def mlflow_client():
    from mlflow import MlflowClient

    return MlflowClient(os.environ["MLFLOW_TRACKING_URI"])

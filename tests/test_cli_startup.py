"""`harness --help` stays instant: the CLI module imports neither torch nor mlflow until a command runs."""

from __future__ import annotations

import subprocess
import sys

from helpers import run_cli


def test_cli_module_imports_no_heavy_library() -> None:
    check = ("import sys, harness, harness.cli; heavy = [m for m in ('torch', 'mlflow', 'optuna', 'sklearn') "
             "if m in sys.modules]; print(heavy); raise SystemExit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert proc.returncode == 0, f"imported at startup: {proc.stdout}"


def test_help_lists_the_commands() -> None:
    out = run_cli("--help").stdout
    for command in ("study", "predict", "ui"):
        assert command in out

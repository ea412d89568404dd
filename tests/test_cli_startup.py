"""`harness --help` stays instant: the CLI module imports neither torch nor mlflow until a command runs;
and a study says its first line (the data is in) before MLflow, a second or more of imports, is loaded."""

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
    out = run_cli("--help", fresh=True).stdout
    for command in ("study", "predict", "ui"):
        assert command in out


def test_a_study_prints_its_first_line_before_mlflow_is_imported(tmp_path) -> None:
    check = ("import sys, harness\n"
             "def first(line):\n"
             "    print(line, '| mlflow imported:', 'mlflow' in sys.modules)\n"
             "    raise SystemExit(0)\n"
             "harness.run_study(sys.argv[1], echo=first)\n")
    study = tmp_path / "s.yaml"
    study.write_text("name: s\ndata: {source: 'synthetic:linear'}\nstudy: {trials: 1}\n")
    proc = subprocess.run([sys.executable, "-c", check, str(study)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("study s: regression") and "| mlflow imported: False" in proc.stdout, proc.stdout

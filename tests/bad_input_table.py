"""The bad-input table's machinery: each case is one run of the real `harness` command in a folder of its
own, and the documented outcome of a refused input is checked the same way for every case:

    exit code 2, exactly one line on stderr (`error: ...`) naming the file, column or key, no traceback,
    and nothing written: every file under the case's folder (where the default MLflow store and Optuna
    journal would go, and where the case's own files live) is byte for byte as it was before the run.

Each case is a process forked from one that has already imported the stack (tests/forked_cli.py): most
refuse within a fraction of a second, where a fresh interpreter spends two or three on imports. Cases in a
read-only folder (a mount namespace of their own) run fresh processes.
Each case stays its own pytest case, reading its outcome from the table's run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml
from forked_cli import ForkedCli
from helpers import HARNESS, ROOT, forked_cli

HOUSES = str(ROOT / "experiments" / "data" / "house_prices.csv")
# A study that would run in seconds on good input: each case changes one thing.
GOOD = {
    "name": "tiny",
    "task": "regression",
    "data": {"source": HOUSES, "target": "price"},
    "train": {"epochs": 1},
    "study": {"trials": 1},
    "baselines": False,
}
WORKERS = 4  # fresh processes at once: most of their time is imports and waiting, not a core


@dataclass
class Case:
    """One bad input: files to write, the command line, and what the one error line must contain."""

    id: str
    args: list[str]
    expected: list[str]  # fragments of the error line (or of the warning lines, for a served input)
    files: dict[str, str | bytes | dict | list] = field(default_factory=dict)  # dicts and lists as YAML
    setup: Callable[[Path], None] | None = None  # anything else to prepare in the case's folder
    env: dict[str, str] = field(default_factory=dict)
    read_only: str | None = None  # a folder (relative to the case's) the process sees read-only


@dataclass
class Outcome:
    case: Case
    folder: Path
    proc: subprocess.CompletedProcess
    before: dict[str, str]  # path -> digest of every file before the run
    after: dict[str, str]
    seconds: float  # the command's wall time (on a shared machine: for spotting slow cases, not a test)


def with_change(key: str, value, base: dict = GOOD) -> dict:
    """A deep copy of `base` with one dotted key set (or removed, when value is DELETE)."""
    raw = yaml.safe_load(yaml.safe_dump(base))
    node = raw
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


DELETE = object()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (folders too, as empty entries) with a digest of its bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        found[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "(folder)"
    return found


def read_only_command(folder: Path, command: list[str]) -> list[str]:
    """`command` with `folder` read-only for it: a read-only bind mount in a private mount namespace when
    running as root (root writes through permission bits), else permission bits."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return command
    if shutil.which("unshare") is None:
        raise RuntimeError("running as root without `unshare`: cannot make a folder read-only")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", str(folder), *command]


def run_case(case: Case, folder: Path, forked: ForkedCli) -> Outcome:
    folder.mkdir(parents=True)
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    if case.setup:
        case.setup(folder)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlruns/mlflow.db",
           "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1", **case.env}
    env = {k: v for k, v in env.items() if v is not None and v != "(unset)"}
    command = [*HARNESS, *case.args]
    if case.read_only:
        command = read_only_command(folder / case.read_only, command)
    before = snapshot(folder)
    started = time.monotonic()
    if not case.read_only:
        proc = forked.run(case.args, folder, env)
    else:
        proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    if case.read_only and os.geteuid() != 0:
        (folder / case.read_only).chmod(0o755)
    return Outcome(case, folder, proc, before, snapshot(folder), seconds)


def run_table(cases: list[Case], root: Path) -> dict[str, Outcome]:
    """Run every case (forked ones one at a time, fresh processes beside them); outcomes by case id."""
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    forked = forked_cli()
    with ThreadPoolExecutor(WORKERS) as pool:
        # Folders by number, not by the case's words: an error line quoting a path must not pass a check
        # for words that only the folder's name holds.
        outcomes = pool.map(lambda numbered: run_case(numbered[1], root / f"case{numbered[0]:03d}", forked),
                            enumerate(cases))
        return {o.case.id: o for o in outcomes}


def assert_refused(outcome: Outcome) -> None:
    """The documented outcome of a refused input (see the module's docstring)."""
    proc, case = outcome.proc, outcome.case
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}, not 2:\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line:\n{proc.stderr}"
    for fragment in case.expected:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert outcome.after == outcome.before, f"files written or changed: {changes(outcome)}"


def changes(outcome: Outcome) -> list[str]:
    before, after = outcome.before, outcome.after
    return sorted({k for k in before.keys() | after.keys() if before.get(k) != after.get(k)})


def python_env() -> dict[str, str]:
    """The interpreter the table runs, for cases that need to point at it."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

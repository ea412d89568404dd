"""The real `harness` command, each run in a process forked from one that has already imported its stack.

A refused input costs the command two or three seconds of imports (MLflow, torch, Optuna, scikit-learn)
before the one line it exists to print: a table of 30 such cases spent most of its minutes importing.
The server below imports them once, as `harness` itself does (quiet_libraries first); each case is then a
fork of it: a process of its own, with its own working directory, environment, stdin (empty), stdout,
stderr and exit code, running `python -m harness ARGS` as the interpreter would (runpy) and ending as
it ends (exit handlers run, SQLite connections close). What a fork skips is the import path itself, which
tests/test_cli_startup.py and every other test's `run_cli` cover in fresh interpreters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from helpers import ROOT

SERVER = r"""
import atexit, gc, json, os, runpy, signal, sys, tempfile

from harness.cli.app import quiet_libraries

quiet_libraries()  # as `harness` does before MLflow is first imported
# What the commands import on their way: the stack, MLflow's SQL stores and model loading, skops.
import mlflow, mlflow.pyfunc, optuna, skops.io, sklearn, torch  # noqa: E401,F401
import mlflow.store.model_registry.sqlalchemy_store, mlflow.store.tracking.sqlalchemy_store  # noqa: E401,F401
import harness.cli, harness.serve.packaging, harness.serve.predict, harness.study.run  # noqa: E401,F401

def close_databases():
    # A fresh interpreter's shutdown collects MLflow's cached SQLAlchemy engines, closing their SQLite
    # connections (which removes the -wal and -shm files); frozen objects are never collected, so here
    # the engines are disposed of by hand, last of the exit handlers.
    from sqlalchemy.engine import Engine
    for engine in [o for o in gc.get_objects() if isinstance(o, Engine)]:
        engine.dispose()

def child(request):
    # Become the command: its exit (SystemExit, or a traceback and 1) ends this process as the interpreter
    # would end it, with its exit handlers.
    atexit.register(close_databases)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # read TMPDIR again, as a fresh process would
    signal.alarm(request["timeout"])  # a hung case dies (returncode -14) rather than hang the table
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["harness", *request["args"]]
    runpy.run_module("harness", run_name="__main__", alter_sys=True)
    sys.exit(0)

gc.freeze()  # the imports' objects out of the collector's sight: a fork's exit then takes 0.3 s, not 1.2 s
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(request)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class ForkedCli:
    """One server process; `run` is `subprocess.run([*HARNESS, *args], ...)` in a fork of it (one at a time)."""

    def __init__(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
        self.server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       cwd=ROOT, env=env, text=True)
        ready = self.server.stdout.readline()
        if ready != "ready\n":
            raise RuntimeError(f"the forking server did not start (exit {self.server.wait()})")
        self.lock = threading.Lock()

    def run(self, args: list[str], cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
        with self.lock, tempfile.TemporaryDirectory(prefix="forked-cli-") as folder:
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"  # outside the case's folder
            request = {"args": args, "cwd": str(cwd), "env": env, "timeout": timeout, "stdout": str(out),
                       "stderr": str(err)}
            self.server.stdin.write(json.dumps(request) + "\n")
            self.server.stdin.flush()
            answer = self.server.stdout.readline()
            if not answer:
                raise RuntimeError(f"the forking server died (exit {self.server.wait()})")
            returncode = json.loads(answer)["returncode"]
            return subprocess.CompletedProcess(["harness", *args], returncode, out.read_text(errors="replace"),
                                               err.read_text(errors="replace"))

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=30)

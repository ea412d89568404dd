"""How long `harness study` takes to answer when the MLflow tracking server is not there.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/unreachable_tracking.py
    PYTHONPATH=$PWD .venv/bin/python benchmarks/unreachable_tracking.py --mlflow-alone 60

Two servers that are not there: a port where nothing listens (the connection is refused at once) and a
server that accepts the connection and never answers (only a timeout ends the wait). For each, the real
command runs in a fresh process with a study that would otherwise train, and the seconds until it exits
are printed with its exit code and error line; for scale, the same command refused for a mistake found
only once the libraries are imported (a constant target) shows what any such answer costs on this
machine. `--mlflow-alone SECONDS` also times a bare MlflowClient
call against the refusing port (MLflow's own retries; STACK-NOTES measured about 250 s), giving up after
SECONDS.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = {"name": "probe", "task": "regression", "baselines": False, "train": {"epochs": 1}, "study": {"trials": 1},
         "data": {"source": str(ROOT / "experiments" / "data" / "house_prices.csv"), "target": "price"}}


def timed(command: list[str], cwd: Path, limit: float) -> tuple[float, int | None, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    started = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=limit)
        return time.monotonic() - started, proc.returncode, (proc.stderr.strip().splitlines() or [""])[-1]
    except subprocess.TimeoutExpired:
        return time.monotonic() - started, None, f"still waiting after {limit:.0f} s (stopped)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow-alone", type=float, metavar="SECONDS", help="also time MLflow's own retries")
    args = parser.parse_args()
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)  # accepts, never answers
    urls = {"refused (port 1)": "http://127.0.0.1:1", "silent server": f"http://127.0.0.1:{silent.getsockname()[1]}"}
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        (cwd / "study.yaml").write_text(json.dumps(STUDY))
        (cwd / "constant.csv").write_text("x,y\n" + "".join(f"{i},1\n" for i in range(20)))
        (cwd / "constant.yaml").write_text(json.dumps({**STUDY, "data": {"source": "constant.csv", "target": "y"}}))
        print(f"{'tracking server':<20} {'seconds':>8}  exit  error line")
        runs = {label: ["study.yaml", "--tracking-uri", url] for label, url in urls.items()}
        runs["(a constant target)"] = ["constant.yaml", "--tracking-uri", f"sqlite:///{cwd}/mlflow.db"]
        for label, arguments in runs.items():
            seconds, code, line = timed([sys.executable, "-m", "harness", "study", *arguments], cwd, limit=120)
            print(f"{label:<20} {seconds:>8.1f}  {code!s:>4}  {line[:150]}")
        if args.mlflow_alone:
            call = "from mlflow import MlflowClient; MlflowClient('http://127.0.0.1:1').search_experiments()"
            seconds, code, line = timed([sys.executable, "-c", call], cwd, limit=args.mlflow_alone)
            print(f"{'MLflow alone':<20} {seconds:>8.1f}  {code!s:>4}  {line[:150]}")
    silent.close()


if __name__ == "__main__":
    main()

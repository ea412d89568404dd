"""Does MLflow's SQLite store hold up under several writer processes, as `--workers N` makes it?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sqlite_writers.py --writers 4 --runs 40
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sqlite_writers.py --writers 8 --runs 40 --journal-mode wal

Each writer process does what a trial does to the tracking store, as fast as it can: create a child run,
log its params, a few batches of per-epoch metrics, tags, a small artifact, a search, and end the run.
The store is created once before the writers start (two processes creating a fresh store race in
MLflow's schema migration). It prints, per setting, the operations done, the errors by type (any
"database is locked" among them) and the wall time, so the journal modes can be compared side by side.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import sqlite3
import tempfile
import time
from pathlib import Path


def writer(uri: str, experiment_id: str, parent_id: str, runs: int, index: int, out) -> None:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(uri)
    errors: collections.Counter = collections.Counter()
    done = 0
    for n in range(runs):
        steps = [
            lambda: client.create_run(experiment_id, run_name=f"trial-{index}-{n}",
                                      tags={"mlflow.parentRunId": parent_id}).info.run_id,
        ]
        try:
            run_id = steps[0]()
            client.log_batch(run_id, params=[Param(f"p{i}", str(i)) for i in range(8)])
            for epoch in range(5):
                client.log_batch(run_id, metrics=[Metric(k, float(epoch), int(time.time() * 1000), epoch)
                                                  for k in ("train/loss", "val/loss", "val/rmse")])
            client.log_batch(run_id, tags=[RunTag("harness.state", "COMPLETE")])
            client.log_text(run_id, "x" * 200, "note.txt")
            client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
                               max_results=50)
            client.set_terminated(run_id, "FINISHED")
            done += 1
        except Exception as err:  # counted, not raised: the point is to see what fails and how often
            message = str(err).splitlines()[0][:80]
            errors[f"{type(err).__name__}: {message}"] += 1
    out.put((done, dict(errors)))


def run(writers: int, runs: int, journal_mode: str | None) -> None:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "mlflow.db"
        uri = f"sqlite:///{db}"
        client = MlflowClient(uri)
        experiment_id = client.create_experiment("writers", artifact_location=str(Path(folder) / "artifacts"))
        parent_id = client.create_run(experiment_id, run_name="study").info.run_id
        if journal_mode:
            with sqlite3.connect(db) as conn:
                conn.execute(f"PRAGMA journal_mode={journal_mode}")
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        start = time.perf_counter()
        procs = [context.Process(target=writer, args=(uri, experiment_id, parent_id, runs, i, out))
                 for i in range(writers)]
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        took = time.perf_counter() - start
    done = sum(r[0] for r in results)
    errors: collections.Counter = collections.Counter()
    for _, found in results:
        errors.update(found)
    locked = sum(n for k, n in errors.items() if "locked" in k)
    print(f"journal_mode={journal_mode or 'delete (default)'}: {writers} writers x {runs} runs: {done} runs done, "
          f"{sum(errors.values())} failed ({locked} 'database is locked'), {took:.1f} s")
    for kind, n in errors.most_common():
        print(f"    {n} x {kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=40, help="runs per writer")
    parser.add_argument("--journal-mode", choices=["delete", "wal", "both"], default="both")
    args = parser.parse_args()
    modes = ["delete", "wal"] if args.journal_mode == "both" else [args.journal_mode]
    for mode in modes:
        run(args.writers, args.runs, None if mode == "delete" else mode)


if __name__ == "__main__":
    main()

"""The MLflow run tree, built by explicit run ids: one parent run per study, one child run per trial.

Never the thread-local active run for the tree itself (it breaks with parallel trials), never async
logging (ending a run waits on a 1 s poll), and per-epoch metrics go out in batches.
"""

from __future__ import annotations

import fcntl
import sqlite3
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from functools import cache
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from harness.errors import mask_credentials
from harness.record.blank_store import create_from_blank
from harness.record.probe import sqlite_path
from harness.record.retry import RetryingClient

FLUSH_SECONDS = 2.0  # per-epoch metrics reach the UI at least this often while a trial runs
MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def write_ahead_log(uri: str) -> None:
    """Put a SQLite tracking store in write-ahead-log mode (once; it stays with the file). MLflow writes a
    trial in ~10 commits; in the default rollback mode each syncs the disk two or three times, in WAL once:
    2.5x faster writes here, and readers (the UI, other workers) no longer block writers. WAL needs every
    process on one machine, which an SQLite file store already does."""
    if not uri.startswith("sqlite:///") or uri.endswith(":memory:"):
        return
    path = Path(uri.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(sqlite3.connect(path, timeout=20)) as db:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error:
        pass  # another process holds the file: it stays in its mode, which works, only slower


def ensure_store(uri: str) -> None:
    """Create (and migrate) a SQLite tracking store exactly once, even when N workers start together: two
    processes opening a fresh store at once race in MLflow's schema migration (`duplicate column name:
    step`), so the first MLflow call runs under a file lock beside the database. A new store is a copy of a
    blank one (blank_store.py: milliseconds, not seconds of migrations). Once created, the store
    holds up under several writers (MLflow sets a 20 s busy timeout; benchmarks/sqlite_writers.py)."""
    path = sqlite_path(uri) if uri.startswith("sqlite:") else None
    if path is None:
        return  # a server or a database: it migrates itself, once, when it starts
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not path.exists() or path.stat().st_size == 0:
            create_from_blank(path)  # a copy of a blank store, else MLflow migrates a new one below
        MlflowClient(uri).search_experiments(max_results=1)


@cache
def harness_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("harness")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@cache
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class EpochLog:
    """Buffers one trial's per-epoch metrics and writes them with log_batch, a few calls per trial.

    With a `writer` (one thread, shared by a study's trials), `send` hands a batch to that thread and
    returns: a cross-validated trial's fold curves are written while its next folds fit in their own
    processes. `flush` returns once everything is written, and raises a write's error there."""

    def __init__(self, client: MlflowClient, run_id: str, writer: ThreadPoolExecutor | None = None):
        self.client, self.run_id, self.writer = client, run_id, writer
        self.pending: list[Metric] = []
        self.writing: list[Future] = []  # batches handed to the writer, oldest first
        self.last_flush = time.monotonic()

    def add(self, scores: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.pending += [Metric(k, float(v), now, step) for k, v in scores.items()]
        if time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.send()

    def send(self) -> None:
        """The pending metrics out: written now, or by the writer thread."""
        batch, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        if batch and self.writer is None:
            self._write(batch)
        elif batch:
            self.writing.append(self.writer.submit(self._write, batch))

    def _write(self, metrics: list[Metric]) -> None:
        for start in range(0, len(metrics), MAX_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[start:start + MAX_BATCH])

    def flush(self) -> None:
        self.send()
        while self.writing:
            oldest = self.writing[0]
            try:
                oldest.result()
            finally:
                if oldest.done():  # written or failed; one still writing (an interrupted wait) stays
                    self.writing.pop(0)

    @property
    def unwritten(self) -> bool:
        return bool(self.pending or self.writing)


class Tracker:
    def __init__(self, tracking_uri: str, study: str, device: str):
        self.uri = tracking_uri
        write_ahead_log(tracking_uri)
        self.client = RetryingClient(MlflowClient(tracking_uri))  # a locked or restarting store is retried
        self.study = study
        self.base_tags = {"harness.study": study, "harness.version": harness_version(), "harness.device": device,
                          "mlflow.source.git.commit": git_commit()}

    def experiment(self, name: str) -> str:
        """Get or create the experiment; safe when two processes create it at once."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:
            found = self.client.get_experiment_by_name(name)  # another process won the race
            if found is None:
                raise
            return found.experiment_id

    def start_trial(self, experiment_id: str, parent_id: str, number: int, params: dict,
                    tags: dict[str, str] | None = None) -> str:
        tags = {**self.base_tags, "harness.role": "trial", "harness.trial": str(number),
                "harness.state": "RUNNING", "mlflow.parentRunId": parent_id, **(tags or {})}
        run = self.client.create_run(experiment_id, run_name=f"trial-{number}", tags=tags)
        self.client.log_batch(run.info.run_id, params=[Param(k, mask_credentials(v)) for k, v in params.items()])
        return run.info.run_id

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])

    def log_inputs(self, run_id: str, inputs: list) -> None:
        """Dataset inputs (harness.lineage builds them once per study); logging them again is a no-op."""
        if inputs:
            self.client.log_inputs(run_id, datasets=inputs)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, mask_credentials(v)) for k, v in tags.items()])

    def finish(self, run_id: str, state: str, reason: str | None = None, name: str | None = None) -> None:
        """End a run with the status that mirrors the Optuna trial: FINISHED, KILLED (pruned) or FAILED;
        `name` renames it (`trial-3 (pruned)`), as the UI draws KILLED and FAILED alike."""
        tags = {"harness.state": {"FINISHED": "COMPLETE", "KILLED": "PRUNED"}.get(state, state)}
        if name:
            tags["mlflow.runName"] = name
        if reason:
            tags["harness.reason"] = reason[:5000]
        self.set_tags(run_id, tags)
        self.client.set_terminated(run_id, status=state)

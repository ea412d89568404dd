"""Where a study's trials live in Optuna: a database URL as given, else a journal file in mlruns/optuna/.

A database (PostgreSQL for many machines) gets heartbeats: every running trial writes one each
`HARNESS_HEARTBEAT_SECONDS` (default 10), and a trial silent for six intervals is failed and retried by
another worker. The journal is for one machine: there, dead workers are found by their process.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import optuna

from harness.errors import HarnessError
from harness.search.warmstart import load_source_study


def journal_path(storage: str | None, name: str) -> Path:
    return Path(storage) if storage else Path("mlruns") / "optuna" / f"{name}.journal"


def heartbeat_seconds() -> int:
    text = os.environ.get("HARNESS_HEARTBEAT_SECONDS", "10").strip()
    if not text.isdigit() or int(text) < 1:
        raise HarnessError(f"HARNESS_HEARTBEAT_SECONDS={text!r}: give a whole number of seconds, 1 or more")
    return int(text)


def optuna_storage(storage: str | None, name: str, on_stale=None):
    """A database URL as given (with heartbeats; `on_stale(study, trial)` retries a trial whose worker fell
    silent); otherwise a journal file (default `mlruns/optuna/<study>.journal`)."""
    if storage and "://" in storage:
        interval = heartbeat_seconds()
        for attempt in (1, 2):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    # pool_pre_ping: a connection a database restart closed is replaced, not used and failed.
                    return optuna.storages.RDBStorage(storage, engine_kwargs={"pool_pre_ping": True},
                                                      heartbeat_interval=interval, grace_period=6 * interval,
                                                      heartbeat_stale_trial_callback=on_stale)
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(1.0)  # workers on a fresh database all create Optuna's tables: one of them wins
    path = journal_path(storage, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


def earlier_study(name: str, storage: str | None) -> optuna.Study:
    """The study `--warm-start-from NAME` points at, in the same storage; never creates one."""
    if storage and "://" in storage:
        return load_source_study(name, storage, storage)
    path = journal_path(storage, name)
    if not path.is_file():
        raise HarnessError(f"--warm-start-from {name}: no study journal at {path}; run that study first, "
                           "or give the --storage that holds it")
    return load_source_study(name, optuna_storage(storage, name), str(path))

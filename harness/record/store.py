"""The embedded MLflow store (a SQLite file) created once, whichever process comes first.

Two processes opening a fresh SQLite store at once race in MLflow's schema migration (one fails with
`duplicate column name: step`), so the first MLflow call on a `sqlite:` URI runs under a file lock beside
the database. Once created, the store holds up under several writers with nothing more: MLflow sets
`busy_timeout = 20 s` on every session, and `benchmarks/sqlite_writers.py` measured zero "database is
locked" with 4 and with 8 writer processes, in the default journal mode as in WAL (which is not used: it
only sped the writers up by about 15%, and adds two files that must travel with the database).
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from mlflow import MlflowClient


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///relative` or `sqlite:////absolute` URI; None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def ensure_store(uri: str) -> None:
    """Create (and migrate) a SQLite tracking store exactly once, even when N workers start together."""
    path = sqlite_path(uri)
    if path is None:
        return  # a server or a database: it migrates itself, once, when it starts
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        MlflowClient(uri).search_experiments(max_results=1)

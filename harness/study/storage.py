"""Where a study's trials live in Optuna: a database URL as given, else a journal file in mlruns/optuna/.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from harness.errors import HarnessError
from harness.search.warmstart import load_source_study


def journal_path(storage: str | None, name: str) -> Path:
    return Path(storage) if storage else Path("mlruns") / "optuna" / f"{name}.journal"


def optuna_storage(storage: str | None, name: str):
    """A database URL as given; otherwise a journal file (default `mlruns/optuna/<study>.journal`)."""
    if storage and "://" in storage:
        return storage
    path = journal_path(storage, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages import JournalStorage

    from harness.study.journal import JournalFile

    return JournalStorage(JournalFile(str(path)))


def earlier_study(name: str, storage: str | None) -> optuna.Study:
    """The study `--warm-start-from NAME` points at, in the same storage; never creates one."""
    if storage and "://" in storage:
        return load_source_study(name, storage, storage)
    path = journal_path(storage, name)
    if not path.is_file():
        raise HarnessError(f"--warm-start-from {name}: no study journal at {path}; run that study first, "
                           "or give the --storage that holds it")
    return load_source_study(name, optuna_storage(storage, name), str(path))

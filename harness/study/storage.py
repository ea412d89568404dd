"""Where a study's trials live in Optuna: a database URL as given, else a journal file in mlruns/optuna/;
and the start-up check of that storage, before anything is written to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from harness.errors import HarnessError
from harness.record.probe import check_database_url, check_file
from harness.search.warmstart import load_source_study


def journal_path(storage: str | None, name: str) -> Path:
    return Path(storage) if storage else Path("mlruns") / "optuna" / f"{name}.journal"


def check_storage(storage: str | None, name: str) -> None:
    """Fail at once, before anything is written, on Optuna storage that cannot work: an unknown URL scheme
    or missing driver, a database that does not answer, a SQLite or journal path that is a folder, under a
    file, read-only or not a database, and a journal that is corrupt or whose last record was cut off."""
    if storage and "://" in storage:
        check_database_url(storage, "--storage")
        return
    path = journal_path(storage, name)
    what = f"--storage {storage}" if storage else f"study journal {path}"
    check_file(path, what)
    if path.exists():
        check_journal(path, what)


def check_journal(path: Path, what: str) -> None:
    """Every record of the journal is whole JSON on its own line. A last line cut off by a crash still
    loads in Optuna, but the next record would be appended onto it and make the file unreadable for good,
    so it is refused here with the command that removes it (the file is never changed by the harness)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # just after the last whole line
    if end < len(data):
        # Another worker may be mid-append: look again while holding the lock Optuna writes under.
        from optuna.storages.journal import JournalFileSymlinkLock

        lock = JournalFileSymlinkLock(str(path))
        lock.acquire()
        try:
            data = path.read_bytes()
        finally:
            lock.release()
        end = data.rfind(b"\n") + 1
    records = data[:end].count(b"\n")
    if end < len(data):
        raise HarnessError(f"{what}: its last record was cut off ({len(data) - end} bytes after record {records}, "
                           f"e.g. by a crash mid-write), and Optuna would append onto it; remove the partial "
                           f"record and keep the {records} whole ones: truncate -s {end} {path}")
    for number, line in enumerate(data[:end].splitlines(), start=1):
        try:
            json.loads(line)
        except ValueError:
            raise HarnessError(f"{what}: line {number} is not a journal record (the file is corrupt); restore it "
                               f"from a backup, or keep the {number - 1} records before it: head -n {number - 1} "
                               f"{path} > repaired.journal") from None


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

"""The study journal without an fsync per record: Optuna's own format and lock, so stock Optuna reads it
and writes beside it, and several processes append to one journal without losing or mixing records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from harness.study.journal import JournalFile

WORKER = """
import sys, optuna
from optuna.storages import JournalStorage
from harness.study.journal import JournalFile
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.load_study(study_name="shared", storage=JournalStorage(JournalFile(sys.argv[1])))
study.optimize(lambda t: sum(t.report(t.suggest_float("x", 0, 1) * s, s) or 0 for s in range(3)), n_trials=15)
"""


def test_stock_optuna_and_the_harness_share_one_journal(tmp_path: Path) -> None:
    path = str(tmp_path / "s.journal")
    ours = optuna.create_study(study_name="s", storage=JournalStorage(JournalFile(path)))
    ours.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    stock = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)))
    assert len(stock.trials) == 3
    stock.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    again = optuna.load_study(study_name="s", storage=JournalStorage(JournalFile(path)))
    assert [t.number for t in again.trials] == [0, 1, 2, 3, 4]
    assert all(t.state.name == "COMPLETE" for t in again.trials)


def test_processes_appending_at_once_lose_no_record(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.journal")
    optuna.create_study(study_name="shared", storage=JournalStorage(JournalFile(path)))
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, path]) for _ in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    trials = optuna.load_study(study_name="shared", storage=JournalStorage(JournalFileBackend(path))).trials
    assert sorted(t.number for t in trials) == list(range(30))
    assert all(t.state.name == "COMPLETE" and len(t.intermediate_values) == 3 for t in trials)

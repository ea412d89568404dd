"""One MLflow store and Optuna folder shared by tests that run many tiny studies in one process.

A new SQLite tracking database costs seconds to create (about 65 tables and 70 migrations), more than a
tiny study itself; tests that only need their own study name share this one instead of `workdir`'s.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from helpers import ROOT

import harness


@dataclass
class Store:
    root: Path
    tracking_uri: str

    def journal(self, name: str) -> Path:
        """Where a study's Optuna journal lands by default (the store is the working directory)."""
        return self.root / "mlruns" / "optuna" / f"{name}.journal"

    def study(self, name: str) -> optuna.Study:
        backend = optuna.storages.journal.JournalFileBackend(str(self.journal(name)))
        return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(backend))

    def run(self, spec, name: str, **options):
        """Run `spec` as study `name` (registered under that name too) with the default Optuna storage;
        returns (StudyResult, optuna.Study)."""
        spec = spec.model_copy(update={"name": name, "registry": spec.registry.model_copy(update={"name": name})})
        options.setdefault("echo", lambda line: None)
        result = harness.run_study(spec, tracking_uri=self.tracking_uri, **options)
        return result, self.study(name)


@functools.cache
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="harness-tests-store-"))
    shutil.copytree(ROOT / "experiments", root / "experiments")  # study files name their data from the root
    atexit.register(shutil.rmtree, root, True)
    return root


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    """The shared store as the working directory, like `workdir`: experiments/ copied in, and MLflow puts
    a SQLite store's artifacts under ./mlruns."""
    root = _root()
    monkeypatch.chdir(root)
    uri = f"sqlite:///{root}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    mlflow.set_tracking_uri(uri)
    return Store(root, uri)

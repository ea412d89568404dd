"""Shared fixtures: every test gets its own folder with a real MLflow store (SQLite) and Optuna journal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import ROOT


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project-like folder (experiments/ copied in, empty mlruns/) as the working directory."""
    shutil.copytree(ROOT / "experiments", tmp_path / "experiments")
    (tmp_path / "mlruns").mkdir()
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    import mlflow

    mlflow.set_tracking_uri(uri)  # an earlier in-process study may have pointed MLflow at its own store
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return tmp_path


def pytest_configure(config) -> None:
    """One torch thread in the test process, as a study's default (train.threads): tests that call `fit`
    directly would otherwise run two threads, which collapse many times over on a busy machine."""
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items) -> None:
    """`gpu` tests need a CUDA device: skipped, with the reason, on a machine without one."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none here); run them where a GPU is lent")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

"""Shared fixtures: every test gets its own folder with a real MLflow store (SQLite) and Optuna journal."""

from __future__ import annotations

import os
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
    """`gpu` tests need a CUDA device: skipped, with the reason, on a machine without one. Under xdist
    (`make test`), `slow` tests and the groups (long module fixtures) are handed out first, so that the
    workers do not end on a long one each; a group's tests keep their file order."""
    import torch

    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: not ("slow" in item.keywords or item.get_closest_marker("xdist_group")))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none here); run them where a GPU is lent")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_runtest_setup(item) -> None:
    """Under `--dist loadgroup` (make test) each xdist_group stays on one worker: its module fixture is built
    once, and test_services.py's `down` runs after the module's other tests. Fail, loudly, where the grouping
    silently did not happen (pytest-xdist 3.8 with pytest 9.2: pytest-xdist issue 1386)."""
    if getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group") \
            and "@" not in item.nodeid:
        pytest.fail("--dist loadgroup ignored this test's xdist_group mark: this pytest and pytest-xdist do not "
                    "work together (see the dev extra in pyproject.toml)", pytrace=False)

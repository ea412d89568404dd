"""Per-epoch metrics (record/tracking.py EpochLog) written by a writer thread: every point lands, and a
failed write is raised by `flush`, in the trial, not lost in the thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from harness.record.tracking import EpochLog


def test_a_writer_thread_writes_every_point_and_flush_raises_a_failed_write(tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("epochs")
    run = client.create_run(experiment).info.run_id
    with ThreadPoolExecutor(1) as writer:
        epochs = EpochLog(client, run, writer)
        for fold in range(3):  # as a cross-validated trial sends each fold's curve once it is taken
            for epoch in range(400):
                epochs.add({f"epoch/fold{fold}/val/loss": 1.0 / (epoch + 1)}, step=epoch)
            epochs.send()
            assert not epochs.pending
        epochs.flush()
        assert not epochs.unwritten
        for fold in range(3):
            points = client.get_metric_history(run, f"epoch/fold{fold}/val/loss")
            assert sorted(p.step for p in points) == list(range(400))

        gone = client.create_run(experiment).info.run_id
        client.delete_run(gone)  # a store that refuses the write
        epochs = EpochLog(client, gone, writer)
        epochs.add({"epoch/val/loss": 1.0}, step=0)
        epochs.send()
        with pytest.raises(MlflowException):
            epochs.flush()
        assert not epochs.unwritten  # the failed batch is done with: the trial's error path writes no more

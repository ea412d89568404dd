"""A study through the CLI on a real SQLite MLflow store and a real Optuna journal: the run tree, the
states of pruned and failed trials, per-epoch metrics, logged models, and resuming."""

from __future__ import annotations

from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest
from helpers import mlflow_client, run_cli
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

# lr 1e12 diverges (FAILED), 1e-7 barely moves (PRUNED once five trials have completed), 1e-2 learns.
STATES_STUDY = """
name: states
task: regression
data: {source: experiments/data/house_prices.csv, target: price}
model: {family: linear}
train:
  optimizer: sgd
  lr: {choice: [1.0e+12, 1.0e-2, 1.0e-7]}
  epochs: 30
  early_stopping: {patience: 30}
study: {trials: 14, sampler: random, pruner: median, seed: 3}
baselines: false
"""

STATUS_OF = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def load_trials(workdir: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = JournalStorage(JournalFileBackend(str(workdir / "mlruns" / "optuna" / f"{name}.journal")))
    return optuna.load_study(study_name=name, storage=storage).trials


@pytest.mark.slow
def test_run_tree_states_metrics_models_and_resume(workdir: Path) -> None:
    (workdir / "states.yaml").write_text(STATES_STUDY)
    first = run_cli("study", "states.yaml")
    assert "trial   0" in first.stdout and "best trial" in first.stdout

    client = mlflow_client()
    experiment = client.get_experiment_by_name("states")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("harness.role") == "study"]
    children = [r for r in runs if r.data.tags.get("harness.role") == "trial"]
    assert len(parents) == 1 and parents[0].info.run_name == "study"
    parent = parents[0]
    trials = load_trials(workdir, "states")
    assert len(children) == len(trials) == 14

    by_number = {int(r.data.tags["harness.trial"]): r for r in children}
    seen_states = set()
    for trial in trials:
        run = by_number[trial.number]
        seen_states.add(trial.state.name)
        assert run.info.run_name.startswith(f"trial-{trial.number}")  # + (champion), (pruned), (failed)
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == STATUS_OF[trial.state.name]
        assert run.data.params["lr"] == str(trial.params["lr"])
        assert run.data.tags["harness.study"] == "states" and "mlflow.source.git.commit" in run.data.tags
        if trial.state.name == "FAIL":
            assert "diverged" in run.data.tags["harness.reason"]
            assert run.info.run_name == f"trial-{trial.number} (failed)"
        if trial.state.name == "PRUNED":  # the UI draws KILLED like FAILED: the name tells them apart
            assert run.info.run_name == f"trial-{trial.number} (pruned)"
        if trial.state.name == "COMPLETE":
            history = sorted(client.get_metric_history(run.info.run_id, "epoch/val/rmse"), key=lambda m: m.step)
            epochs_run = int(run.data.metrics["epochs_run"])
            assert [m.step for m in history] == list(range(epochs_run))  # the curve ends at the last epoch
            assert len(client.get_metric_history(run.info.run_id, "epoch/train/loss")) == epochs_run
            # The summary is one value: the restored best epoch's, which is what Optuna ranked.
            assert len(client.get_metric_history(run.info.run_id, "val/rmse")) == 1
            assert history[int(run.data.metrics["best_epoch"])].value == pytest.approx(trial.value)
            assert run.data.metrics["val/rmse"] == pytest.approx(trial.value)
            model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
            rows = pd.read_csv(workdir / "experiments/data/house_prices.csv").head(3)
            assert len(model.predict(rows.drop(columns=["price"]))) == 3
    assert seen_states == {"COMPLETE", "PRUNED", "FAIL"}

    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "FINISHED"
    best = min((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert parent.data.tags["harness.best_trial"] == str(best.number)
    assert {"val/rmse", "test/rmse", "test/r2"} <= parent.data.metrics.keys()
    assert "test/rmse" in by_number[best.number].data.metrics
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "study.yaml" in artifacts

    # The same command again resumes the study and reuses the parent run.
    second = run_cli("study", "states.yaml", "--trials", "2")
    assert "resuming study with 14 earlier trials" in second.stdout
    assert len(load_trials(workdir, "states")) == 16
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert [r.info.run_id for r in runs if r.data.tags.get("harness.role") == "study"] == [parent.info.run_id]
    assert len([r for r in runs if r.data.tags.get("harness.role") == "trial"]) == 16

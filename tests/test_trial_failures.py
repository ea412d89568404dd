"""Which failures a study survives: a trial whose training diverges fails with its reason and the study goes
on; a bug in the harness stops the study with its traceback (it once became a FAILED trial per trial and
then an exit-2 "user error"); and a best trial whose test score is not finite is never registered.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from stores import Store, store  # noqa: F401  (the shared-store fixture)

import harness.study.objective
from harness.data.prepare import prepare
from harness.errors import HarnessError
from harness.record.tracking import Tracker
from harness.spec.schema import build_spec
from harness.study.crown import crown

RAW = {
    "name": "failures",
    "task": "regression",
    "data": {"source": "experiments/data/house_prices.csv", "target": "price"},
    "train": {"epochs": 2, "optimizer": "sgd"},
    "study": {"trials": 2},
    "baselines": False,
}


def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on(store: Store) -> None:
    raw = {**RAW, "train": {**RAW["train"], "lr": {"choice": [1.0e12, 1.0e-3]}},
           "study": {**RAW["study"], "enqueue": [{"lr": 1.0e12}, {"lr": 1.0e-3}]}}
    result, study = store.run(build_spec(raw, "t.yaml"), "diverging")
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]
    assert "TrainingDiverged" in study.trials[0].user_attrs["fail_reason"]
    assert result.best_trial == 1 and result.decision.promoted


def test_a_bug_in_the_harness_stops_the_study_with_its_traceback(store: Store, monkeypatch) -> None:
    class HarnessBug(Exception):
        """Stands for any defect in the harness's own code."""

    def broken_build_model(*args, **kwargs):
        raise HarnessBug("a defect in the harness")

    # Fault injection: a real study whose network builder has a bug.
    monkeypatch.setattr(harness.study.objective, "build_model", broken_build_model)
    with pytest.raises(HarnessBug):
        store.run(build_spec({**RAW, "study": {"trials": 3}}, "t.yaml"), "buggy")
    trials = store.study("buggy").trials
    assert len(trials) == 1 and trials[0].state == optuna.trial.TrialState.FAIL  # not three FAILED trials
    runs = MlflowClient(store.tracking_uri).search_runs(
        [MlflowClient(store.tracking_uri).get_experiment_by_name("buggy").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("harness.role") == "study")
    assert parent.info.status == "KILLED"


def test_a_best_trial_with_a_non_finite_test_score_is_not_registered(store: Store) -> None:
    spec = build_spec({**RAW, "name": "unscored", "train": {"epochs": 2}, "study": {"trials": 1}}, "t.yaml")
    result, study = store.run(spec, "unscored")
    client = MlflowClient(store.tracking_uri)
    versions = len(client.search_model_versions("name='unscored'"))
    # The same rows with one test target so far off that the squared error overflows: the test RMSE is inf
    # (the 1e308 target once registered such a champion; such data is now refused at load).
    data = prepare(spec.data.source, "price", "regression", 0.15, 0.15, 0, device="cpu")
    data.labels["test"] = data.labels["test"].astype(np.float64)
    data.labels["test"][0] = 1e300
    tracker = Tracker(store.tracking_uri, "unscored", "cpu")
    with pytest.raises(HarnessError, match=r"test/rmse = inf on the test split, so it is not registered"):
        crown(study, spec.resolved("regression"), data, tracker, result.experiment_id, result.parent_run_id,
              echo=lambda line: None)
    assert len(client.search_model_versions("name='unscored'")) == versions
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FAILED" and "not registered" in parent.data.tags["harness.reason"]

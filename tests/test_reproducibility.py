"""One seed, the same study: on the CPU the same study file and seed give identical trials (params, every
epoch's value, final metrics) in two separate stores. Every run records its seed, the git commit, and the
data's splits as MLflow dataset inputs (source, digest, row counts)."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient
from stores import Store, store  # noqa: F401  (the shared-store fixture)

from harness.spec.schema import build_spec

# Both families, dropout (the global RNG during training) and a pruner: everything a seed must pin down.
RAW = {
    "name": "repro",
    "task": "regression",
    "data": {"source": "sklearn:diabetes"},
    "model": {"family": {"choice": ["linear", "mlp"]}, "n_layers": {"int": [1, 2]}, "hidden": {"int": [4, 32]},
              "dropout": {"float": [0.0, 0.5]}},
    "train": {"optimizer": {"choice": ["adam", "sgd"]}, "lr": {"float": [1.0e-3, 1.0e-1], "log": True},
              "batch_size": 32, "epochs": 3},
    "study": {"sampler": "tpe", "pruner": "median", "seed": 7,
              "enqueue": [{"family": "mlp", "dropout": 0.3}, {"family": "linear"}]},
}


def trial_record(study) -> list[tuple]:
    return [(t.number, t.state.name, t.params, t.values, t.intermediate_values) for t in study.trials]


def runs_by_trial(client: MlflowClient, experiment_id: str) -> dict:
    runs = client.search_runs([experiment_id], max_results=100)
    return {r.data.tags.get("harness.trial", "study"): r for r in runs}


@pytest.mark.slow  # two studies, one in a new store (its database takes seconds to create)
def test_same_file_and_seed_give_identical_trials_in_two_stores(store: Store, tmp_path, monkeypatch) -> None:
    spec = build_spec(json.loads(json.dumps(RAW)), "repro.yaml")
    first, first_study = store.run(spec, "repro", trials=4)

    other = Store(tmp_path, f"sqlite:///{tmp_path}/mlflow.db")  # a second, empty store
    monkeypatch.chdir(tmp_path)
    second, second_study = other.run(spec, "repro", trials=4)

    assert trial_record(first_study) == trial_record(second_study)
    assert len({str(t.params) for t in first_study.trials}) == 4
    # The logged metrics agree too, run for run.
    a = runs_by_trial(MlflowClient(store.tracking_uri), first.experiment_id)
    b = runs_by_trial(MlflowClient(other.tracking_uri), second.experiment_id)
    assert a.keys() == b.keys() == {"study", "0", "1", "2", "3"}
    for key in a:
        assert a[key].data.metrics == b[key].data.metrics, key
    assert first.test == second.test


def test_runs_record_seed_commit_and_the_splits_as_dataset_inputs(store: Store) -> None:
    spec = build_spec({**json.loads(json.dumps(RAW)), "study": {"sampler": "random", "pruner": "none", "seed": 3}},
                      "inputs.yaml")
    result, study = store.run(spec, "inputs", trials=2)
    client = MlflowClient(store.tracking_uri)
    runs = runs_by_trial(client, result.experiment_id)
    assert runs["study"].data.tags["harness.seed"] == "3"
    assert runs["0"].data.tags["harness.seed"] == "3" and runs["1"].data.tags["harness.seed"] == "4"

    splits = None
    for key, run in runs.items():
        assert run.data.tags["mlflow.source.git.commit"]
        assert run.data.tags["harness.data_digest"] == runs["study"].data.tags["harness.data_digest"]
        inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
        assert set(inputs) == {"training", "validation", "testing"}
        # sklearn:diabetes has 442 rows, split 70/15/15 by data.split.seed (its own seed, apart from study.seed).
        rows = {context: json.loads(d.profile)["num_rows"] for context, d in inputs.items()}
        assert rows == {"training": 308, "validation": 67, "testing": 67}
        found = {context: (d.name, d.digest, d.source_type, d.source) for context, d in inputs.items()}
        splits = splits or found
        assert found == splits  # the same datasets on the parent and on every trial
    assert splits["training"][0] == "sklearn-diabetes-train" and splits["training"][2] == "code"
    assert json.loads(splits["training"][3])["tags"]["harness.source"] == "sklearn:diabetes"
    assert len({digest for _, digest, _, _ in splits.values()}) == 3


def test_a_wide_table_is_recorded_without_pandas_warnings() -> None:
    """A table of hundreds of columns arrives fragmented (a block per column): adding the target to it
    for the dataset record must not print pandas' PerformanceWarning in the user's terminal."""
    import warnings

    import numpy as np
    import pandas as pd

    from harness.record.lineage import dataset_inputs

    rows = pd.DataFrame(index=range(20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the building itself warns: a column at a time, a block each
        for i in range(150):
            rows[f"f{i}"] = np.arange(20.0) * i
    raw = {split: rows for split in ("train", "val", "test")}
    labels = {split: np.arange(20.0) for split in raw}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inputs = dataset_inputs("wide.csv", "y", raw, labels)
    assert [json.loads(i.dataset.profile)["num_rows"] for i in inputs] == [20, 20, 20]
    assert "y" in json.loads(inputs[0].dataset.schema)["mlflow_colspec"][-1]["name"]

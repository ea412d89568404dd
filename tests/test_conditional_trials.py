"""A searched family: the mlp-only parameters exist only in mlp trials, in Optuna's params and in the
trial runs' MLflow params alike; a linear trial has none of them."""

from __future__ import annotations

from mlflow import MlflowClient
from stores import Store, store  # noqa: F401  (the shared-store fixture)

from harness.spec.names import FAMILY_PARAMS, MODEL_CONDITIONS
from harness.spec.schema import build_spec

MLP_ONLY = {"n_layers", "hidden", "activation", "dropout"}  # searched below, read by mlp trials only


def test_branch_parameters_appear_only_in_their_family_s_trials(store: Store) -> None:
    raw = {
        "name": "branches",
        "task": "regression",
        "data": {"source": "synthetic:linear"},
        "model": {"family": {"choice": ["linear", "mlp"]}, "n_layers": {"int": [1, 2]},
                  "hidden": {"int": [4, 16]}, "activation": {"choice": ["relu", "tanh"]},
                  "dropout": {"float": [0.0, 0.3]}},
        "train": {"lr": {"float": [1.0e-3, 1.0e-1], "log": True}, "batch_size": 256, "epochs": 2},
        # Both branches for sure, then whatever the sampler picks.
        "study": {"sampler": "random", "pruner": "none", "enqueue": [{"family": "linear"}, {"family": "mlp"}]},
    }
    _, study = store.run(build_spec(raw, "branches.yaml"), "branches", trials=3)
    client = MlflowClient(store.tracking_uri)
    families = set()
    for trial in study.trials:
        family = trial.params["family"]
        families.add(family)
        logged = client.get_run(trial.user_attrs["mlflow_run_id"]).data.params
        assert logged["family"] == family and float(logged["lr"]) == trial.params["lr"]
        if family == "mlp":
            assert MLP_ONLY <= trial.params.keys() and MLP_ONLY <= logged.keys()
            # Fixed mlp settings are logged as well; an embedding's tuning only with an embedding (none here).
            assert set(FAMILY_PARAMS["mlp"]) - set(MODEL_CONDITIONS) <= logged.keys()
            assert logged["embedding"] == "none" and not set(MODEL_CONDITIONS) & logged.keys()
        else:
            assert not MLP_ONLY & trial.params.keys()
            assert not set(FAMILY_PARAMS["mlp"]) & logged.keys()
    assert families == {"linear", "mlp"}

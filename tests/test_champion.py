"""The champion as a user meets it: registered, loaded by name in a fresh process, predicting on raw rows;
and an alias that a worse model does not move."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import mlflow_client, run_cli
from mlflow import MlflowClient

import harness

HOUSES = "experiments/data/house_prices.csv"


@pytest.mark.slow
def test_champion_predicts_in_a_fresh_process_and_keeps_its_alias(workdir: Path) -> None:
    # The best trial itself as the champion (test_ensemble_champion.py has the ensemble's own test).
    out = run_cli("study", "experiments/house_prices.yaml", "--trials", "3", "--set", "train.epochs=40",
                  "--set", "register.ensemble=false")
    assert "promoted to @champion (no previous champion)" in out.stdout
    assert "harness predict models:/house-prices@champion" in out.stdout

    client: MlflowClient = mlflow_client()
    champion = client.get_model_version_by_alias("house-prices", "champion")
    assert champion.tags["harness.study"] == "house-prices"
    best_run = client.get_run(champion.run_id)
    assert champion.tags["harness.trial"] == best_run.data.tags["harness.trial"]

    # A fresh process, the registry, a raw CSV that still holds the target column.
    run_cli("predict", "models:/house-prices@champion", HOUSES, "-o", "predictions.csv")
    fresh = pd.read_csv(workdir / "predictions.csv")
    raw = pd.read_csv(workdir / HOUSES)
    assert list(fresh.columns) == ["row", "prediction"] and len(fresh) == len(raw)  # keyed by the row's position
    # The study's own model (the best trial's run) gives the same numbers on the same rows.
    own = harness.predict(f"runs:/{champion.run_id}/model", raw)
    np.testing.assert_allclose(fresh["prediction"].to_numpy(), own["prediction"].to_numpy(), rtol=1e-6)
    assert (fresh["prediction"] > 10_000).all(), "predictions come back in dollars, not standardized units"

    # A worse model (one epoch at a tiny learning rate) registers a version but leaves the alias.
    worse = run_cli("study", "experiments/house_prices.yaml", "--trials", "1", "--set", "name=house-prices-worse",
                    "--set", "register.name=house-prices", "--set", "train.epochs=1", "--set", "train.lr=1.0e-6")
    assert f"the champion stays version {champion.version}" in worse.stdout
    assert client.get_model_version_by_alias("house-prices", "champion").version == champion.version
    versions = client.search_model_versions("name='house-prices'")
    assert len(versions) == 2


@pytest.mark.slow
def test_text_labels_round_trip_through_quick_mode(workdir: Path) -> None:
    """A yes/no target with no study file: classes are encoded for training and decoded in predictions."""
    out = run_cli("study", "--data", HOUSES, "--target", "aircon", "--trials", "2", "--set", "train.epochs=5",
                  "--set", "baselines=false")
    assert "classification of 'aircon'" in out.stdout
    predictions = run_cli("predict", "models:/house-prices@champion", HOUSES).stdout.splitlines()
    assert predictions[0] == "row,prediction,proba_no,proba_yes"  # the row's position keys each prediction
    assert {line.split(",")[1] for line in predictions[1:]} <= {"yes", "no"}
    assert [line.split(",")[0] for line in predictions[1:3]] == ["0", "1"]
    assert len(predictions) == 1 + len(pd.read_csv(workdir / HOUSES))


@pytest.mark.slow
def test_python_api_matches_the_cli(workdir: Path) -> None:
    result = harness.run_study("experiments/breast_cancer.yaml", trials=1, overrides=["train.epochs=3"],
                               echo=lambda line: None)
    assert result.decision.promoted and result.best_trial == 0
    assert 0.5 < result.test["test/accuracy"] <= 1.0
    model = harness.load_model("models:/breast-cancer@champion")
    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(4)
    labels = model.predict(rows)["prediction"]
    assert set(labels) <= {"malignant", "benign"}


def test_many_classes_decode_into_one_frame_without_pandas_warnings() -> None:
    """150 classes: a probability column each, built at once (pandas warned of a fragmented frame past 100
    columns added one by one, at every prediction)."""
    import warnings

    from harness.serve.predictor import Predictor

    classes = [f"c{i}" for i in range(150)]
    predictor = Predictor(None, None, {}, {"task": "classification", "classes": classes})
    logits = np.random.default_rng(0).normal(size=(4, 150))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = predictor.decoded(logits)
    assert list(out.columns) == ["prediction"] + [f"proba_{c}" for c in classes]
    assert list(out["prediction"]) == [classes[i] for i in logits.argmax(1)]
    np.testing.assert_allclose(out.iloc[:, 1:].sum(axis=1), 1.0)

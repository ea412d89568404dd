"""Data preparation: task inference, reproducible stratified splits, preprocessing fitted on train only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT

from harness.data.prepare import prepare
from harness.data.target import infer_task
from harness.errors import HarnessError

HOUSES = str(ROOT / "experiments/data/house_prices.csv")


def test_task_inference() -> None:
    assert infer_task(pd.Series(["yes", "no"])) == "classification"
    assert infer_task(pd.Series([0, 1, 2, 1])) == "classification"
    assert infer_task(pd.Series(np.arange(100) * 1000)) == "regression"
    assert infer_task(pd.Series([0.5, 1.5])) == "regression"


def test_splits_are_reproducible_disjoint_and_stratified() -> None:
    a = prepare(HOUSES, "aircon", "auto", 0.2, 0.2, seed=1, device="cpu")
    b = prepare(HOUSES, "aircon", "auto", 0.2, 0.2, seed=1, device="cpu")
    c = prepare(HOUSES, "aircon", "auto", 0.2, 0.2, seed=2, device="cpu")
    assert a.task == "classification" and a.classes == ["no", "yes"]
    assert a.raw["test"].equals(b.raw["test"]) and not a.raw["test"].equals(c.raw["test"])
    sizes = {k: len(v) for k, v in a.raw.items()}
    assert sum(sizes.values()) == 546
    rates = [np.mean(a.labels[s] == "yes") for s in ("train", "val", "test")]
    assert max(rates) - min(rates) < 0.03  # stratified: the same share of "yes" in every split


def test_preprocessor_is_fitted_on_training_rows_only() -> None:
    data = prepare(HOUSES, "price", "regression", 0.2, 0.2, seed=0, device="cpu")
    train = data.X["train"].numpy()
    numeric = train[:, :5]  # lotsize, bedrooms, bathrooms, stories, garage: standardized on train
    np.testing.assert_allclose(numeric.mean(0), 0, atol=1e-5)
    assert abs(data.X["test"].numpy()[:, :5].mean()) > 1e-3
    assert data.target_mean == pytest.approx(data.labels["train"].mean())
    assert data.X["train"].device == data.device and data.y["train"].shape == (len(train), 1)


def test_unseen_categories_and_missing_values_are_handled() -> None:
    data = prepare(HOUSES, "price", "regression", 0.2, 0.2, seed=0, device="cpu")
    rows = data.raw["test"].head(3).copy()
    rows.loc[0, "driveway"] = "maybe"  # a category never seen in training
    rows.loc[1, "lotsize"] = np.nan
    encoded = data.preprocessor.transform(rows)
    assert np.isfinite(encoded).all()


@pytest.mark.parametrize("source,task,classes", [
    ("sklearn:iris", "classification", 3), ("sklearn:wine", "classification", 3),
    ("sklearn:breast_cancer", "classification", 2), ("sklearn:digits", "classification", 10),
    ("sklearn:diabetes", "regression", None), ("synthetic:linear", "regression", None),
])
def test_bundled_and_synthetic_sources(source: str, task: str, classes: int | None) -> None:
    data = prepare(source, None, "auto", 0.15, 0.15, seed=0, device="cpu")
    assert data.task == task
    assert (len(data.classes) if data.classes else None) == classes


def test_parquet_source(tmp_path) -> None:
    path = tmp_path / "houses.parquet"
    pd.read_csv(HOUSES).to_parquet(path)
    assert prepare(str(path), "price", "auto", 0.2, 0.2, seed=0, device="cpu").task == "regression"


def test_unknown_bundled_set_is_a_clear_error() -> None:
    with pytest.raises(HarnessError, match="sklearn:iris"):
        prepare("sklearn:nope", None, "auto", 0.15, 0.15, seed=0, device="cpu")

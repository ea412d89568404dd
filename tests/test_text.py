"""Text columns: detected (or named in data.text), vectorized with TF-IDF inside the same preprocessor,
dense float32 on the device; the registered model takes raw text in a fresh process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import ROOT, run_cli

import harness
from harness.data.columns import (
    TFIDF_MAX_FEATURES,
    build_preprocessor,
    detect_text_columns,
)
from harness.data.prepare import prepare
from harness.errors import HarnessError

DOCS = ROOT / "experiments/data/scipy_docstrings.csv"

THINGS = ("soup", "film", "hotel", "phone", "book", "chair")
VERDICTS = ("great", "awful", "fine", "lovely", "broken")
ACTIONS = ("buy", "avoid", "try", "recommend", "return", "skip", "rent")
REVIEWS = pd.DataFrame({
    "review": [f"the {THINGS[i % 6]} was {VERDICTS[i % 5]} and I would {ACTIONS[i % 7]} it again" for i in range(30)],
    "city": ["Oslo", "Lima", "Oslo", "Pune", "Lima", "Oslo"] * 5,  # few words, few values: a category
    "code": [f"A{i:03d}" for i in range(30)],  # distinct but one word: an identifier, not text
    "stars": [5.0, 1.0, 3.0, 5.0, 1.0, 2.0] * 5,
})


def test_text_columns_are_detected() -> None:
    assert detect_text_columns(REVIEWS) == ["review"]
    assert detect_text_columns(pd.read_csv(DOCS).drop(columns=["subpackage"])) == ["summary"]


def test_text_becomes_tfidf_inside_the_one_preprocessor() -> None:
    pre = build_preprocessor(REVIEWS).fit(REVIEWS)
    names = list(pre.get_feature_names_out())
    assert any(n.startswith("text:review__") and " " in n for n in names)  # words and word pairs
    assert not any(n.startswith("categorical__review") for n in names)  # not one-hot encoded
    assert "numeric__stars" in names and any(n.startswith("categorical__city") for n in names)
    # Named explicitly instead: the same columns, and `[]` turns detection off.
    assert list(build_preprocessor(REVIEWS, ["review"]).fit(REVIEWS).get_feature_names_out()) == names
    plain = build_preprocessor(REVIEWS, []).fit(REVIEWS).get_feature_names_out()
    assert any(n.startswith("categorical__review") for n in plain)
    # Missing text and unseen words are fine at prediction time.
    rows = REVIEWS.head(2).copy()
    rows.loc[0, "review"] = None
    rows.loc[1, "review"] = "zzz qqq"
    assert np.isfinite(pre.transform(rows)).all()


def test_prepared_text_is_dense_float32_on_the_device_and_bounded() -> None:
    data = prepare(str(DOCS), "subpackage", "auto", 0.2, 0.2, seed=0, device="cpu", text=["summary"])
    X = data.X["train"]
    assert X.dtype.is_floating_point and X.dtype.itemsize == 4 and X.layout == torch.strided
    assert X.device == data.device and X.ndim == 2
    # summary (at most TFIDF_MAX_FEATURES), kind one-hot (3), n_params (1)
    assert 100 < data.n_features <= TFIDF_MAX_FEATURES + 4
    assert data.classes == ["linalg", "ndimage", "optimize", "signal", "special", "stats"]


@pytest.mark.parametrize("text,fragment", [(["nope"], "'nope' is not among the features"),
                                           (["n_params"], "holds numbers")])
def test_bad_text_columns_are_clear_errors(text: list[str], fragment: str) -> None:
    with pytest.raises(HarnessError, match=fragment):
        prepare(str(DOCS), "subpackage", "auto", 0.2, 0.2, seed=0, device="cpu", text=text)


@pytest.mark.slow
def test_text_model_predicts_from_raw_text_in_a_fresh_process(workdir: Path) -> None:
    out = run_cli("study", "experiments/scipy_docs.yaml", "--trials", "1", "--set", "train.epochs=10",
                  "--set", "model.family=mlp", "--set", "baselines=false")
    assert "promoted to @champion" in out.stdout
    rows = pd.DataFrame({
        "summary": ["Compute the eigenvalues of a square matrix.", "Perform a t-test on two independent samples.",
                    "Apply a Butterworth low-pass filter to a signal."],
        "kind": ["function"] * 3,
        "n_params": [2, 3, None],
    })
    rows.to_csv(workdir / "new_docs.csv", index=False)
    run_cli("predict", "models:/scipy-docs@champion", "new_docs.csv", "-o", "predictions.csv")
    fresh = pd.read_csv(workdir / "predictions.csv")
    assert list(fresh.columns[:3]) == ["row", "prediction", "proba_linalg"] and len(fresh) == 3
    assert set(fresh["prediction"]) <= {"linalg", "ndimage", "optimize", "signal", "special", "stats"}
    own = harness.predict("models:/scipy-docs@champion", pd.read_csv(workdir / "new_docs.csv"))
    np.testing.assert_allclose(fresh.iloc[:, 2:].to_numpy(), own.iloc[:, 1:].to_numpy(), rtol=1e-5)
    # The text decides: the same rows with their sentences swapped get other answers.
    swapped = rows.assign(summary=rows["summary"][::-1].to_numpy())
    assert list(harness.predict("models:/scipy-docs@champion", swapped)["prediction"]) != list(fresh["prediction"])

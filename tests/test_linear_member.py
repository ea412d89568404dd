"""The linear member offered to ensemble selection (study/linear_member.py): scikit-learn's own ridge and
logistic regression, refitted here on the same folds, are the reference its packaged networks must match,
and its penalty must be the one its selection rows prefer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression, Ridge
from stores import Store, store  # noqa: F401  (the shared-store fixture)

import harness
from harness.data.folds import make_folds
from harness.data.prepare import prepare
from harness.data.target import decode_target
from harness.nn.metrics import classification_metrics, regression_metrics
from harness.record.baselines import LOGISTIC_CS, RIDGE_ALPHAS
from harness.spec.schema import build_spec
from harness.study.ensemble import selection_truth
from harness.study.linear_member import fit_linear_member

HOUSES = "experiments/data/house_prices.csv"


def _splits(data, spec):
    """(split data, selection rows) as the trials see them: the folds, or the training split and val."""
    if spec.study.folds > 1:
        return [(f.data, f.rows) for f in make_folds(data, spec.study.folds, spec.data.split.seed)]
    return [(data, np.arange(len(data.labels["val"])))]


def _ridge_reference(data, spec, alpha: float, rows) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's Ridge on each split's encoded rows, decoded and clamped to the training targets as the
    trials' networks are: its out-of-fold predictions, and the fold average on `rows` (raw)."""
    splits = _splits(data, spec)
    out_of_fold, averaged = np.zeros(sum(len(r) for _, r in splits)), np.zeros(len(rows))
    for split, held_out in splits:
        ridge = Ridge(alpha=alpha).fit(split.X["train"].numpy(), split.y["train"].numpy()[:, 0])
        low, high = split.output_range

        def decoded(X, split=split, ridge=ridge, low=low, high=high):
            return decode_target(np.clip(ridge.predict(X), low, high), split.target_transform, split.target_mean,
                                 split.target_std)

        out_of_fold[held_out] = decoded(split.X["val"].numpy())
        averaged += decoded(split.preprocessor.transform(rows[data.features])) / len(splits)
    return out_of_fold, averaged


def test_the_ridge_member_is_scikit_learns_ridge_on_each_fold_with_the_alpha_its_folds_prefer() -> None:
    spec = build_spec({"name": "houses", "data": {"source": HOUSES, "target": "price", "numeric": "robust"},
                       "study": {"folds": 3}}, "houses.yaml")
    data = prepare(HOUSES, "price", "regression", 0.15, 0.15, 0, "cpu").variant("robust")
    truth = selection_truth(spec, data)
    member = fit_linear_member(spec, data, truth)
    assert member.name == "ridge" and member.penalty in RIDGE_ALPHAS and len(member.predictor.members) == 3
    assert member.numeric in ("robust", "standard")
    data = data.variant(member.numeric)  # the scaling its folds preferred: the study's, or standardization

    expected, test = _ridge_reference(data, spec, member.penalty, data.raw["test"])
    np.testing.assert_allclose(member.values, expected, rtol=1e-4)
    np.testing.assert_allclose(member.predictor.predict(data.raw["test"])["prediction"], test, rtol=1e-4)
    chosen = regression_metrics(truth, expected)["rmse"]
    others = [regression_metrics(truth, _ridge_reference(data, spec, a, data.raw["test"][:1])[0])["rmse"]
              for a in RIDGE_ALPHAS]
    assert chosen == pytest.approx(min(others)) and len(set(np.round(others, 3))) > 1


def test_a_straight_line_gets_a_member_on_standardized_inputs_when_the_study_clips_them(tmp_path: Path) -> None:
    """y = 2x on heavy-tailed x: the study's robust scaling clips x's tails smoothly, which bends the line;
    the member is offered standardized inputs too, and takes them, with the error of scikit-learn's ridge."""
    rng = np.random.default_rng(0)
    x = rng.standard_t(3, size=300)
    path = tmp_path / "line.csv"
    pd.DataFrame({"x": x, "noise": rng.normal(size=300), "y": 2 * x + rng.normal(scale=0.01, size=300)}).to_csv(
        path, index=False)
    spec = build_spec({"name": "line", "data": {"source": str(path), "target": "y", "numeric": "robust"},
                       "study": {"folds": 3}}, "line.yaml")
    data = prepare(str(path), "y", "regression", 0.15, 0.15, 0, "cpu").variant("robust")
    truth = selection_truth(spec, data)
    member = fit_linear_member(spec, data, truth)
    assert member.numeric == "standard" and "numeric standard" in member.describe()
    standard = data.variant("standard")
    expected, _ = _ridge_reference(standard, spec, member.penalty, data.raw["test"][:1])
    np.testing.assert_allclose(member.values, expected, rtol=1e-4)
    clipped = min(regression_metrics(truth, _ridge_reference(data, spec, a, data.raw["test"][:1])[0])["rmse"]
                  for a in RIDGE_ALPHAS)
    assert regression_metrics(truth, member.values)["rmse"] < clipped / 2  # both clamped to the folds' targets


@pytest.mark.parametrize("source,folds", [("sklearn:breast_cancer", 1), ("sklearn:wine", 3)])
def test_the_logistic_member_gives_scikit_learns_probabilities(source: str, folds: int) -> None:
    spec = build_spec({"name": "classes", "data": {"source": source}, "study": {"folds": folds}}, "c.yaml")
    data = prepare(source, None, "classification", 0.15, 0.15, 0, "cpu")
    truth = selection_truth(spec, data)
    member = fit_linear_member(spec, data, truth)
    assert member.name == "logistic_regression" and member.penalty in LOGISTIC_CS

    splits, expected = _splits(data, spec), np.zeros((len(truth), len(data.classes)))
    rows, columns = data.raw["test"], [f"proba_{c}" for c in data.classes]
    test = np.zeros((len(rows), len(data.classes)))
    for split, held_out in splits:
        model = LogisticRegression(C=member.penalty, max_iter=2000).fit(split.X["train"].numpy(),
                                                                         split.y["train"].numpy())
        expected[held_out] = model.predict_proba(split.X["val"].numpy())
        test += model.predict_proba(split.preprocessor.transform(rows[data.features])) / len(splits)
    np.testing.assert_allclose(member.values, expected, atol=1e-4)
    np.testing.assert_allclose(member.predictor.predict(rows)[columns].to_numpy(), test, atol=1e-4)
    assert classification_metrics(truth, member.values)["accuracy"] > 0.9


# Networks of a few slow epochs on a table ridge fits well.
WEAK = {"name": "weak-houses", "data": {"source": HOUSES, "target": "price", "numeric": "robust"},
        "model": {"family": "mlp", "n_layers": 1, "hidden": 8},
        "train": {"optimizer": "adamw", "lr": {"float": [3.0e-3, 3.0e-2], "log": True}, "batch_size": 64, "epochs": 8},
        "study": {"trials": 3, "sampler": "random", "pruner": "none", "seed": 0}}


def test_the_linear_member_takes_weight_where_the_networks_are_weak_and_predicts_raw_rows(store: Store) -> None:
    """Networks of a few slow epochs on house prices, a table ridge fits well: selection gives ridge weight,
    and the registered champion predicts the weighted mean of its trials' models and the ridge member."""
    spec = build_spec(WEAK, "weak.yaml")
    result, study = store.run(spec, "weak-houses")
    client = MlflowClient(store.tracking_uri)
    record = json.loads(Path(client.download_artifacts(result.parent_run_id, "ensemble.json",
                                                       str(store.root))).read_text())
    assert record["linear"]["model"] == "ridge" and record["linear"]["weight"] > 0 and "ridge" in record["members"]
    assert record["ensemble"] < record["best_single"] and "ridge (" in result.ensemble
    assert client.get_run(result.run_id).data.params["linear_member"].startswith("ridge (alpha=")

    data = prepare(HOUSES, "price", "regression", 0.15, 0.15, 0, "cpu").variant("robust")
    ridge = fit_linear_member(spec, data, selection_truth(spec, data))
    rows = data.raw["test"]
    weights = dict(zip(record["members"], record["weights"]))
    expected = weights["ridge"] * ridge.predictor.predict(rows)["prediction"].to_numpy()
    for trial, run_id in zip(record["trials"], record["run_ids"]):
        expected += weights[str(trial)] * harness.predict(f"runs:/{run_id}/model", rows)["prediction"].to_numpy()
    champion = harness.predict(f"models:/{result.model_name}@champion", rows)["prediction"].to_numpy()
    np.testing.assert_allclose(champion, expected, rtol=1e-6)


def test_register_linear_member_false_offers_the_trials_alone(store: Store) -> None:
    """The study above, where ridge took weight, with the option off: no linear model is fitted or offered."""
    spec = build_spec({**WEAK, "name": "no-linear", "register": {"linear_member": False}}, "no-linear.yaml")
    result, _ = store.run(spec, "no-linear")
    assert "ridge" not in (result.ensemble or "")
    client = MlflowClient(store.tracking_uri)
    assert "ridge" not in client.get_run(result.parent_run_id).data.tags.get("harness.ensemble", "")


def test_ridge_alone_can_be_the_champion_and_the_best_trial_says_it_was_outdone(store: Store) -> None:
    """Networks of three epochs of slow SGD are far from ridge on house prices: the champion is ridge alone."""
    raw = {**WEAK, "name": "sgd-houses",
           "train": {"optimizer": "sgd", "lr": {"float": [1.0e-4, 1.0e-3], "log": True}, "batch_size": 64,
                     "epochs": 3}}
    spec = build_spec(raw, "sgd.yaml")
    result, _ = store.run(spec, "sgd-houses")
    assert result.ensemble.startswith("ridge alone: val/rmse") and result.ensemble_trials == []
    data = prepare(HOUSES, "price", "regression", 0.15, 0.15, 0, "cpu").variant("robust")
    ridge = fit_linear_member(spec, data, selection_truth(spec, data)).predictor.predict(data.raw["test"])
    champion = harness.predict(f"models:/{result.model_name}@champion", data.raw["test"])
    np.testing.assert_allclose(champion["prediction"], ridge["prediction"], rtol=1e-6)
    client = MlflowClient(store.tracking_uri)
    best = client.get_run(client.get_run(result.parent_run_id).data.tags["harness.best_run_id"])
    assert "outdone on validation by the ensemble registered as" in best.data.tags["mlflow.note.content"]

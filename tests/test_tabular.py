"""The tabular recipes, each shown to do what it claims (a test here fails if the option silently does
nothing): robust scaling bounds an extreme input's effect, embeddings change what the first layer sees,
TabM trains its members apart and averages them, an ensemble predicts the weighted mean of its members,
greedy selection never loses to the best single trial, and folds cover train+val once with the test
split untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import ROOT
from torch import nn

from harness.data.folds import make_folds, pooled_labels
from harness.data.prepare import prepare
from harness.data.profile import with_scaling
from harness.data.scaling import CLIP, RobustSmoothClip, numeric_scaler
from harness.nn.calibration import calibrated
from harness.nn.loop import fit, outputs
from harness.nn.losses import make_loss
from harness.nn.models import OutputRange, build_model
from harness.search.ensemble_selection import greedy_selection
from harness.serve.ensemble import EnsemblePredictor, load_predictor
from harness.serve.predictor import Predictor
from harness.spec.names import NUMERIC_SCALINGS

HOUSES = str(ROOT / "experiments/data/house_prices.csv")
PARAMS = {"family": "mlp", "n_layers": 1, "hidden": 16, "activation": "relu", "dropout": 0.0,
          "loss": "mse", "optimizer": "adam", "lr": 1e-2, "weight_decay": 0.0, "batch_size": 32}


@pytest.fixture(scope="module")
def houses():
    return prepare(HOUSES, "price", "regression", 0.2, 0.2, seed=0, device="cpu", target_transform="log")


def trained(data, params, epochs=15):
    torch.manual_seed(0)
    model = build_model(params, data.n_features, 1, None, data.n_numeric, data.output_range)
    fit(model, data, params, epochs=epochs, patience=100, metric="rmse", minimize=True, seed=0)
    return Predictor.from_training(data, model, params)


# --- numeric scaling ------------------------------------------------------------------------------------

def test_every_numeric_scaling_name_has_a_scaler() -> None:
    for name in NUMERIC_SCALINGS:
        numeric_scaler(name, 100)
    with pytest.raises(ValueError, match="standard, robust or quantile"):
        numeric_scaler("minmax", 100)


def test_robust_scaling_is_median_iqr_then_smoothly_clipped() -> None:
    column = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])  # median 3, IQR 2
    scaler = RobustSmoothClip().fit(column)
    inner = (np.array([3.0, 4.0, 1e12, -1e12]) - 3.0) / 2.0
    expected = inner / np.sqrt(1 + (inner / CLIP) ** 2)
    np.testing.assert_allclose(scaler.transform([[3.0], [4.0], [1e12], [-1e12]])[:, 0], expected)
    np.testing.assert_allclose(scaler.transform([[1e300], [-1e300]])[:, 0], [CLIP, -CLIP])  # no overflow
    # No spread between the quartiles (a mostly-zero column): half its range scales it; constant: zero.
    mostly_zero = RobustSmoothClip().fit([[0.0], [0.0], [0.0], [0.0], [4.0]])
    assert mostly_zero.transform([[4.0]])[0, 0] == pytest.approx(2.0 / np.sqrt(1 + (2.0 / CLIP) ** 2))
    assert RobustSmoothClip().fit([[7.0], [7.0]]).transform([[1e9]])[0, 0] == 0.0


def test_robust_clipping_bounds_an_extreme_input_s_effect(houses) -> None:
    """A lot a million times larger than any: standardized, the network's input is thousands of standard
    deviations out and the prediction follows it; robust-scaled, the input stays under 3 and so does
    the prediction's change (both networks unclamped, so only the scaling differs)."""
    row = houses.raw["val"].head(1).copy()
    extreme = row.assign(lotsize=row["lotsize"] * 1e6)
    moved = {}
    for numeric in ("standard", "robust"):
        data = houses.variant(numeric)
        lot = data.preprocessor.transform(extreme)[0, 0]
        assert (abs(lot) > 1e4) if numeric == "standard" else (abs(lot) < CLIP)
        torch.manual_seed(0)
        model = build_model(PARAMS, data.n_features, 1)  # no OutputRange: the scaling alone is tested
        fit(model, data, PARAMS, epochs=15, patience=100, metric="rmse", minimize=True, seed=0)
        predictor = Predictor.from_training(data, model, PARAMS)
        with np.errstate(over="ignore"):  # the standardized network's log-price may overflow exp: the point
            usual, far = (predictor.predict(r)["prediction"][0] for r in (row, extreme))
        moved[numeric] = abs(np.log(far / usual))
    assert moved["robust"] < 1.0, "a bounded input moves a log-price prediction by less than a factor e"
    assert moved["standard"] > 10 * moved["robust"]


def test_quantile_scaling_is_bounded_and_fitted_on_training_rows(houses) -> None:
    data = houses.variant("quantile")
    train = data.X["train"][:, :data.n_numeric].numpy()
    assert np.abs(train).max() < 6 and data.numeric == "quantile"
    huge = data.raw["val"].head(1).assign(lotsize=1e12)
    assert abs(data.preprocessor.transform(huge)[0, 0]) < 6
    assert houses.variant("quantile") is data  # fitted once per process


def test_regression_outputs_are_clamped_to_the_training_range_in_evaluation_only() -> None:
    clamp = OutputRange(-1.0, 2.0)
    x = torch.tensor([[-5.0], [0.5], [9.0]])
    assert torch.equal(clamp.train()(x), x)  # training keeps its gradients
    assert clamp.eval()(x).flatten().tolist() == [-1.0, 0.5, 2.0]


def test_the_packaged_model_keeps_its_clamp(houses, tmp_path: Path) -> None:
    predictor = trained(houses.variant("robust"), PARAMS, epochs=3)
    assert predictor.meta["output_range"] == pytest.approx(houses.output_range, rel=1e-6)
    saved = Predictor.load(predictor.save(tmp_path / "model"))
    rows = houses.raw["test"]
    np.testing.assert_allclose(saved.predict(rows)["prediction"], predictor.predict(rows)["prediction"])
    low, high = houses.labels["train"].min(), houses.labels["train"].max()
    absurd = rows.head(1).assign(lotsize=1e9, bedrooms=1e6)
    assert low * (1 - 1e-6) <= saved.predict(absurd)["prediction"][0] <= high * (1 + 1e-6)


# --- numeric embeddings ---------------------------------------------------------------------------------

def first_linear_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen = []
    linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    handle = linear.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    model.eval()(x)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize("kind", ["periodic", "pl", "plr"])
def test_embeddings_change_the_inputs_the_first_layer_sees(houses, kind: str) -> None:
    x = houses.X["val"][:8]
    n, rest = houses.n_numeric, houses.n_features - houses.n_numeric
    plain = first_linear_input(build_model({**PARAMS, "embedding": "none"}, houses.n_features, 1), x)
    assert torch.equal(plain, x)
    params = {**PARAMS, "embedding": kind, "embedding_frequencies": 4, "embedding_dim": 6, "embedding_scale": 0.3}
    model = build_model(params, houses.n_features, 1, n_numeric=n)
    seen = first_linear_input(model, x)
    width = 2 * 4 if kind == "periodic" else 6
    assert seen.shape == (8, n * width + rest)
    assert torch.equal(seen[:, n * width:], x[:, n:]), "one-hot columns pass through unchanged"
    # Each numeric value is spread over its own block of sin/cos features (or their linear maps).
    changed = x.clone()
    changed[:, 0] += 1.0
    moved = (first_linear_input(model, changed) - seen).abs().sum(0)
    assert moved[:width].sum() > 0 and moved[width:].sum() == 0


def test_an_embedding_needs_numeric_columns() -> None:
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="model.embedding: the data has no numeric columns"):
        build_model({**PARAMS, "embedding": "plr"}, 5, 1, n_numeric=0)


# --- TabM ---------------------------------------------------------------------------------------------

TABM = {"family": "tabm", "n_layers": 2, "hidden": 16, "activation": "relu", "dropout": 0.0, "ensemble_size": 4}


@pytest.mark.parametrize("loss,n_out", [("mse", 1), ("cross_entropy", 3), ("bce", 1)])
def test_tabm_trains_its_members_apart_and_averages_them(loss: str, n_out: int) -> None:
    torch.manual_seed(0)
    model = build_model({**TABM, "loss": loss}, 5, n_out)
    x = torch.randn(7, 5)
    members = model.train()(x)
    assert members.shape == (7, 4, n_out)
    assert not torch.allclose(members[:, 0], members[:, 1]), "random-sign adapters make members differ"
    averaged = model.eval()(x)
    assert averaged.shape == (7, n_out)
    if loss == "mse":
        torch.testing.assert_close(averaged, members.mean(1))
    elif loss == "cross_entropy":  # softmax of the output is the members' mean probability
        torch.testing.assert_close(torch.softmax(averaged, 1), torch.softmax(members, -1).mean(1))
    else:
        torch.testing.assert_close(torch.sigmoid(averaged), torch.sigmoid(members).mean(1))
    # In training each member is scored on its own: the loss is the mean of the members' losses.
    y = torch.randn(7, 1) if loss == "mse" else torch.randint(0, n_out if n_out > 1 else 2, (7,))
    task = "regression" if loss == "mse" else "classification"
    loss_fn = make_loss(loss, task)
    per_member = torch.stack([loss_fn(members[:, i], y) for i in range(4)]).mean()
    torch.testing.assert_close(loss_fn(members, y), per_member)


def test_tabm_shares_its_weights(houses) -> None:
    tabm = build_model({**TABM, "hidden": 64, "ensemble_size": 8}, houses.n_features, 1)
    one = build_model({**PARAMS, "n_layers": 2, "hidden": 64}, houses.n_features, 1)
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(tabm) < 2 * count(one), "8 members in less than twice the parameters of one MLP"


def test_tabm_learns_a_table(houses) -> None:
    data = houses.variant("robust")
    predictor = trained(data, {**PARAMS, **TABM, "loss": "mse"}, epochs=30)
    rmse = np.sqrt(np.mean((predictor.predict(data.raw["val"])["prediction"] - data.labels["val"]) ** 2))
    assert rmse < 25_000


# --- ensembles ----------------------------------------------------------------------------------------

def test_an_ensemble_predicts_the_weighted_mean_of_its_members(houses, tmp_path: Path) -> None:
    a = trained(houses, PARAMS, epochs=3)
    b = trained(houses.variant("robust"), {**PARAMS, "hidden": 8}, epochs=6)
    ensemble = EnsemblePredictor.of([a, b], [3, 1])
    assert ensemble.weights == [0.75, 0.25]
    rows = houses.raw["test"]
    expected = 0.75 * a.predict(rows)["prediction"] + 0.25 * b.predict(rows)["prediction"]
    np.testing.assert_allclose(ensemble.predict(rows)["prediction"], expected)
    assert not np.allclose(expected, a.predict(rows)["prediction"])
    saved = load_predictor(ensemble.save(tmp_path / "ensemble"))
    np.testing.assert_allclose(saved.predict(rows)["prediction"], expected)
    # A nested ensemble (a trial's fold models) is flattened with its weights multiplied through.
    nested = EnsemblePredictor.of([ensemble, a], [1, 1])
    assert nested.weights == [0.375, 0.125, 0.5] and len(nested.members) == 3


def test_a_classification_ensemble_averages_probabilities(tmp_path: Path) -> None:
    cancer = prepare("sklearn:breast_cancer", None, "auto", 0.2, 0.2, seed=0, device="cpu")
    members = []
    for hidden, epochs in ((8, 2), (32, 8)):
        params = {**PARAMS, "hidden": hidden, "loss": "cross_entropy"}
        torch.manual_seed(0)
        model = build_model(params, cancer.n_features, 2)
        fit(model, cancer, params, epochs=epochs, patience=100, metric="accuracy", minimize=False, seed=0)
        members.append(Predictor.from_training(cancer, model, params))
    ensemble = EnsemblePredictor.of(members, [0.4, 0.6])
    rows = cancer.raw["test"]
    out = ensemble.predict(rows)
    columns = [f"proba_{c}" for c in cancer.classes]
    mean = 0.4 * members[0].predict(rows)[columns] + 0.6 * members[1].predict(rows)[columns]
    np.testing.assert_allclose(out[columns], mean)
    assert list(out["prediction"]) == [cancer.classes[i] for i in mean.to_numpy().argmax(1)]
    # At a temperature, the mean probabilities are sharpened (or softened), the labels unchanged; saved with it.
    sharp = load_predictor(EnsemblePredictor.of(members, [0.4, 0.6], temperature=0.5).save(tmp_path / "sharp"))
    assert sharp.temperature == 0.5
    np.testing.assert_allclose(sharp.predict(rows)[columns], calibrated(mean.to_numpy(), 0.5))
    assert not np.allclose(sharp.predict(rows)[columns], mean)
    assert list(sharp.predict(rows)["prediction"]) == list(out["prediction"])
    with pytest.raises(ValueError, match="temperature"):  # flattening it into another would drop the temperature
        EnsemblePredictor.of([sharp, members[0]], [1, 1])


def test_greedy_selection_starts_from_the_best_single_and_never_loses_to_it() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=300)
    errors = [rng.normal(size=300) for _ in range(3)]
    candidates = [truth + 0.5 * errors[0], truth + 0.6 * errors[1], truth + 0.6 * errors[2], truth + 3.0]
    rmse = lambda p: float(np.sqrt(np.mean((p - truth) ** 2)))
    chosen = greedy_selection(candidates, rmse, minimize=True)
    assert chosen.single == pytest.approx(rmse(candidates[0]))
    assert chosen.score < chosen.single, "independent errors average out"
    averaged = sum(w * p for w, p in zip(chosen.weights, candidates))
    assert chosen.score == pytest.approx(rmse(averaged))
    assert chosen.weights.sum() == pytest.approx(1.0) and (chosen.weights[:3] > 0).all()
    # The same predictions twice: nothing to gain, so the best single one alone is kept.
    alone = greedy_selection([candidates[0], candidates[0] + 1.0], rmse, minimize=True)
    assert list(alone.weights) == [1.0, 0.0] and alone.score == alone.single
    # Maximized metrics (accuracy-like) work the same way.
    hits = greedy_selection([truth, -truth], lambda p: float(np.mean(np.sign(p) == np.sign(truth))), minimize=False)
    assert list(hits.weights) == [1.0, 0.0] and hits.score == 1.0


# --- cross-validation folds -----------------------------------------------------------------------------

def test_folds_cover_train_and_val_once_and_leave_the_test_split_alone() -> None:
    data = prepare("sklearn:wine", None, "auto", 0.2, 0.2, seed=0, device="cpu").variant("robust")
    folds = make_folds(data, 4, seed=0)
    rows = np.concatenate([f.rows for f in folds])
    assert sorted(rows) == list(range(len(data.raw["train"]) + len(data.raw["val"])))
    pooled = pooled_labels(data)
    for fold in folds:
        assert fold.data.numeric == "robust" and fold.data.raw["test"] is data.raw["test"]
        np.testing.assert_array_equal(fold.data.labels["val"], pooled[fold.rows])
        assert len(fold.data.raw["train"]) + len(fold.rows) == len(pooled)
        # Fitted on the fold's own training rows: their medians, not the study's.
        scaler = fold.data.preprocessor.named_transformers_["numeric"][-1]
        np.testing.assert_allclose(scaler.median_, fold.data.raw["train"].median(numeric_only=True).to_numpy())
        classes = {c: np.mean(fold.data.labels["val"] == c) for c in data.classes}
        assert all(abs(share - np.mean(pooled == c)) < 0.1 for c, share in classes.items())  # stratified
    assert not np.allclose(folds[0].data.X["test"].numpy(), data.X["test"].numpy())


def test_fold_training_uses_the_same_loop(houses) -> None:
    folds = make_folds(houses, 3, seed=0)
    predictor = trained(folds[0].data, PARAMS, epochs=3)
    assert len(predictor.predict(folds[0].data.raw["val"])) == len(folds[0].rows)
    assert isinstance(outputs(predictor.network, folds[0].data.X["val"].cpu()), torch.Tensor)


def test_tables_of_text_columns_keep_their_text_columns_in_every_refit(tmp_path: Path) -> None:
    words = ["a red house by the sea", "a small flat in town", "an old barn with land", "a new house in town"]
    frame = pd.DataFrame({"note": [f"{words[i % 4]} number {i}" for i in range(60)],
                          "size": np.arange(60.0), "y": np.arange(60.0) * 2})
    path = tmp_path / "notes.csv"
    frame.to_csv(path, index=False)
    data = prepare(str(path), "y", "regression", 0.2, 0.2, seed=0, device="cpu")
    assert data.text == ["note"]
    for variant in (data.variant("quantile"), *[f.data for f in make_folds(data, 3, 0)]):
        assert variant.text == ["note"] and variant.n_numeric == 1


def test_the_column_report_names_the_networks_numeric_scaling() -> None:
    rows = [("price", "numeric", "missing values: median; standardized"), ("store", "categorical", "one-hot")]
    assert with_scaling(rows, ["standard"]) == rows
    searched = dict((name, detail) for name, _, detail in with_scaling(rows, ["robust", "quantile"]))
    assert searched["price"] == ("missing values: median; scaled per trial, searched: median/IQR-scaled, smoothly "
                                 "clipped to ±3 or quantile-mapped to a normal distribution (baselines: standardized)")
    assert searched["store"] == "one-hot"

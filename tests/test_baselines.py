"""Baselines beside every study (runs under the parent with the trials' metric names, once per study, off
when the study file says so, compared in the summary) and quick mode's choices for a table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import mlflow_client, run_cli
from stores import Store, store  # noqa: F401  (the shared-store fixture)

import harness
from harness.record.baselines import Baseline, comparison_line
from harness.spec.names import CLASSIFICATION_METRICS as CLASSIFICATION
from harness.spec.names import REGRESSION_METRICS as REGRESSION
from harness.spec.distributions import values_of
from harness.spec.quick import batch_sizes, model_space, quick_spec


def runs_by_role(experiment: str) -> dict[str, list]:
    client = mlflow_client()
    found = client.get_experiment_by_name(experiment)
    out: dict[str, list] = {}
    for run in client.search_runs([found.experiment_id], max_results=1000):
        out.setdefault(run.data.tags.get("harness.role"), []).append(run)
    return out


def split_names(run, split: str) -> set[str]:
    return {k for k in run.data.metrics if k.startswith(f"{split}/")}


@pytest.mark.slow
def test_regression_baselines_are_child_runs_with_the_trials_metrics_and_are_fitted_once(workdir: Path) -> None:
    first = run_cli("study", "experiments/house_prices.yaml", "--trials", "2", "--set", "train.epochs=3")
    assert "baseline ridge" in first.stdout and "baseline hist_gradient_boosting" in first.stdout
    line = next(l for l in first.stdout.splitlines() if l.startswith("vs baselines"))
    assert "test/rmse" in line and "(champion) vs" in line and "best baseline)" in line

    runs = runs_by_role("house-prices")
    parent, trials, baselines = runs["study"][0], runs["trial"], runs["baseline"]
    assert sorted(r.info.run_name for r in baselines) == ["baseline-hist_gradient_boosting", "baseline-ridge"]
    trial_val = split_names(trials[0], "val")
    for run in baselines:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["harness.role"] == "baseline" and run.info.status == "FINISHED"
        assert split_names(run, "val") == {f"val/{m}" for m in REGRESSION} <= trial_val
        assert split_names(run, "test") == {f"test/{m}" for m in REGRESSION} == split_names(parent, "test")
        # Fitted for real, in dollars: a model that explains most of the price, errors in the thousands.
        assert run.data.metrics["test/r2"] > 0.4 and 5_000 < run.data.metrics["test/rmse"] < 50_000
    ridge = next(r for r in baselines if r.info.run_name == "baseline-ridge")
    assert float(ridge.data.params["alpha"]) > 0
    chosen = min(baselines, key=lambda r: r.data.metrics["val/rmse"]).data.tags["harness.baseline"]
    assert f"({chosen}, best baseline)" in line
    assert parent.data.tags["harness.vs_baselines"] == line.removeprefix("vs baselines ")

    # Resuming adds trials under the same parent, but fits no baseline again and still compares.
    second = run_cli("study", "experiments/house_prices.yaml", "--trials", "1", "--set", "train.epochs=3")
    assert "baseline ridge" not in second.stdout
    assert any(l.startswith("vs baselines test/rmse") for l in second.stdout.splitlines())
    runs = runs_by_role("house-prices")
    assert len(runs["baseline"]) == 2 and len(runs["trial"]) == 3 and len(runs["study"]) == 1


def test_classification_baselines_and_the_switch_that_turns_them_off(workdir: Path) -> None:
    result = harness.run_study("experiments/breast_cancer.yaml", trials=1, overrides=["train.epochs=2"],
                               echo=lambda line: None)
    runs = runs_by_role("breast-cancer")
    baselines = {r.data.tags["harness.baseline"]: r for r in runs["baseline"]}
    assert set(baselines) == {"logistic_regression", "hist_gradient_boosting"}
    trial_val = split_names(runs["trial"][0], "val")
    for run in baselines.values():
        assert run.info.run_name == f"baseline-{run.data.tags['harness.baseline']}"
        assert run.data.tags["mlflow.parentRunId"] == result.parent_run_id
        assert split_names(run, "val") == {f"val/{m}" for m in CLASSIFICATION} <= trial_val
        assert split_names(run, "test") == {f"test/{m}" for m in CLASSIFICATION}
        assert run.data.metrics["test/accuracy"] > 0.9  # a real fit on an easy set
    assert float(baselines["logistic_regression"].data.params["C"]) in np.logspace(-3, 3, 7)
    assert result.vs_baselines.startswith("test/log_loss ")  # the study metric of breast_cancer.yaml
    assert [b.name for b in result.baselines] == ["logistic_regression", "hist_gradient_boosting"]
    assert all(b.bound is None for b in result.baselines)  # a small table: within budget, nothing bounded

    off = harness.run_study("experiments/breast_cancer.yaml", trials=1, echo=lambda line: None,
                            overrides=["train.epochs=2", "baselines=false", "name=breast-cancer-plain"])
    assert off.baselines == [] and off.vs_baselines is None
    assert "baseline" not in runs_by_role("breast-cancer-plain")


def test_the_comparison_names_the_winner_on_the_study_metric() -> None:
    bases = [Baseline("ridge", {}, {"val/rmse": 10.0, "test/rmse": 15_210.0}),
             Baseline("hist_gradient_boosting", {}, {"val/rmse": 12.0, "test/rmse": 14_000.0})]
    line = comparison_line({"test/rmse": 14_950.0}, "val/rmse", "regression", bases)
    # The best baseline is the one best on validation (ridge), as the champion was chosen.
    assert line == "test/rmse 14,950 (champion) vs 15,210 (ridge, best baseline): champion better by 1.7%"
    worse = comparison_line({"test/accuracy": 0.9}, "val/loss", "classification",
                            [Baseline("logistic_regression", {}, {"val/accuracy": 0.95, "test/accuracy": 0.95})])
    assert worse.startswith("test/accuracy 0.9 (champion) vs 0.95 (logistic_regression") and "baseline better" in worse
    assert comparison_line({"test/rmse": 1.0}, "val/rmse", "regression", []) is None


def write(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_quick_mode_logs_a_skewed_positive_target_and_scales_batches_to_the_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    table = pd.DataFrame({"x": x, "city": rng.choice(["a", "b", None], n),
                          "price": np.exp(11 + 0.8 * x + rng.normal(0, 0.5, n)),  # lognormal: skewed, positive
                          "score": 3 * x + rng.normal(size=n),  # symmetric, crosses zero
                          "shifted": 50 + x})  # positive but not skewed
    path = write(tmp_path / "homes.csv", table)

    skewed = quick_spec(path, "price")
    assert skewed.task == "regression" and skewed.data.target_transform == "log"
    assert "log target" in skewed.description
    assert set(skewed.model.family.options) == {"linear", "mlp", "tabm"}  # TabM below 10,000 rows
    assert skewed.data.numeric == "robust" and skewed.study.folds == 5  # cross-validated under 2,000 rows
    assert skewed.study.trials == 30 and skewed.baselines
    # A few hundred rows: layers of at most 256 units and TabM of 4 members (a CPU's compute, measured).
    assert values_of(skewed.model.hidden) == (32, 256) and skewed.model.ensemble_size == 4
    assert quick_spec(path, "score").data.target_transform == "standardize"
    assert quick_spec(path, "shifted").data.target_transform == "standardize"
    # The user still has the last word.
    assert quick_spec(path, "price", overrides=["data.target_transform=none"]).data.target_transform == "none"
    classes = quick_spec(path, "city")
    assert classes.task == "classification" and classes.study.metric == "val/log_loss"  # accuracy ties
    assert skewed.study.metric == "val/rmse" and skewed.train.schedule == "plateau"

    assert model_space(table[["x"]], tabm=False)["hidden"] == {"int": [32, 512], "log": True}  # larger tables

    small, large = batch_sizes(300), batch_sizes(40_000)
    assert max(small) <= 64 and large == [512]  # large tables: more, not larger, steps per epoch
    assert all(s & (s - 1) == 0 for s in small + large)  # powers of two
    options = skewed.train.batch_size.options
    assert options == tuple(batch_sizes(int(n * 0.6))) and max(options) < n * 0.6


def test_baselines_fit_a_log_target_on_the_log_scale_and_report_original_units() -> None:
    from harness.data.prepare import prepare
    from harness.record.baselines import fit_all

    houses = str(Path(__file__).resolve().parents[1] / "experiments" / "data" / "house_prices.csv")
    logged = fit_all(prepare(houses, "price", "regression", 0.2, 0.2, 0, "cpu", "log"))
    plain = fit_all(prepare(houses, "price", "regression", 0.2, 0.2, 0, "cpu", "standardize"))
    for log_fit, plain_fit in zip(logged, plain):
        assert log_fit.params["target_transform"] == "log" and plain_fit.params["target_transform"] == "none"
        assert 5_000 < log_fit.metrics["test/rmse"] < 50_000  # dollars, not log-dollars
        assert log_fit.metrics["test/rmse"] != plain_fit.metrics["test/rmse"]


def test_a_study_too_small_for_its_baselines_bounds_them_says_so_and_bounds_their_threads(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info

    from harness.record import baselines, budget
    from harness.spec.schema import build_spec

    monkeypatch.setattr(budget, "MIN_BUDGET", 0.01)  # one epoch of one trial: the budget is next to nothing
    threads = []
    fit = baselines.fit_classification

    def watched(*args, **kwargs):
        threads.extend(pool["num_threads"] for pool in threadpool_info())
        return fit(*args, **kwargs)

    monkeypatch.setattr(baselines, "fit_classification", watched)
    spec = build_spec({"name": "bounded", "data": {"source": "sklearn:digits", "kind": "table"},
                       "train": {"epochs": 1, "batch_size": 256}, "study": {"trials": 1}}, "t.yaml")
    lines = []
    result, _ = store.run(spec, "bounded-baselines", echo=lines.append)
    assert threads and set(threads) == {1}  # OpenMP and BLAS pools held to the study's one thread
    n_train = 1257
    notes = [line for line in lines if "note: baseline" in line]
    assert any(f"hist_gradient_boosting fitted on 1,000 of {n_train:,} training rows and stopped at 20 boosting "
               "iterations" in line for line in notes), notes
    boosted = next(b for b in result.baselines if b.name == "hist_gradient_boosting")
    assert boosted.params["n_iter"] == 20 and boosted.params["train_rows"] == 1000
    run = mlflow_client().get_run(boosted.run_id)
    assert run.data.tags["harness.bound"] == boosted.bound and "about a tenth" in boosted.bound
    assert run.data.params["train_rows"] == "1000"


def test_the_budget_is_a_tenth_of_the_expected_study_and_bounds_only_large_data() -> None:
    from harness.record.budget import MIN_BUDGET, bounds, expected_study_seconds
    from harness.spec.schema import build_spec

    spec = build_spec({"name": "b", "data": {"source": "x.csv"}, "model": {"hidden": {"int": [16, 128]}},
                       "train": {"epochs": 100, "batch_size": {"choice": [64, 256]},
                                 "early_stopping": {"patience": 10}}, "study": {"trials": 30}}, "t.yaml")
    small, large = expected_study_seconds(spec, 1_000, 20), expected_study_seconds(spec, 1_000_000, 20)
    assert 500 < large / small < 1500  # linear in the rows, give or take the fixed cost of a step
    assert bounds(spec, 1_000, 20, None, 500).rows is None  # a small table: nothing to bound
    big = bounds(spec, 1_000_000, 20, None, 500)  # 30 long trials: boosting is capped, every row is used
    assert big.seconds == pytest.approx(max(MIN_BUDGET, 0.1 * large))
    assert big.rows is None and 20 <= big.boosting_iterations < 500
    short = bounds(spec.model_copy(update={"study": spec.study.model_copy(update={"trials": 1})}), 1_000_000, 20,
                   None, 500)  # one trial: too little time for every row
    assert short.rows is not None and 1000 <= short.rows < 1_000_000 and short.boosting_iterations == 20


def test_a_bounded_sample_of_many_classes_keeps_a_row_of_each() -> None:
    """200 classes, some of two rows: 1,000 random rows of 2,800 would miss some, and boosting then refused
    the validation rows of a class it had not seen (a traceback before the first trial)."""
    from harness.record.baselines import _sample

    rng = np.random.default_rng(0)
    labels = np.concatenate([np.repeat(np.arange(150), 18), np.repeat(np.arange(150, 200), 2)])
    features = np.column_stack([labels, rng.normal(size=(len(labels), 2))])  # the first feature names the class
    X, y = {"train": features, "val": np.zeros((2, 3))}, {"train": labels, "val": labels[:2]}
    plain = _sample(X, y, 1000, seed=0)[1]["train"]
    assert len(np.unique(plain)) < 200  # what a random sample does
    sampled_X, sampled_y = _sample(X, y, 1000, seed=0, every_class=True)
    assert len(sampled_y["train"]) == 1000 and len(np.unique(sampled_y["train"])) == 200
    assert sampled_X["train"].shape == (1000, 3) and sampled_X["val"] is X["val"]
    assert (sampled_X["train"][:, 0] == sampled_y["train"]).all()  # each row with its own label
    assert len({tuple(r) for r in sampled_X["train"]}) == 1000  # no row twice
    assert _sample(X, y, None, seed=0, every_class=True)[1]["train"] is labels


def test_a_cnn_study_expects_the_time_of_its_convolutions() -> None:
    """digits_cnn.yaml: the MLP formula saw 64 inputs and a head of 128 units and expected 5.9 s of training
    for 12 trials (quick mode's 2-trial digits study: "about a tenth of the study's expected 0s"); the
    convolutions' multiply-adds make it 26 s (quick mode's 12 trials on digits trained for about 45 s)."""
    from harness.record.budget import cnn_macs, expected_study_seconds
    from harness.spec.schema import load_spec

    spec = load_spec("experiments/digits_cnn.yaml", [])
    # 3 blocks of up to 32 channels (doubling), 3x3 kernels, on 8x8: 64*1*32*9 + 16*32*64*9 + 4*64*128*9
    assert cnn_macs(spec, 64) == 18_432 + 294_912 + 294_912
    as_mlp = spec.model_copy(update={"model": spec.model.model_copy(update={"family": "mlp"})})
    assert expected_study_seconds(spec, 1257, 64) > 4 * expected_study_seconds(as_mlp, 1257, 64)

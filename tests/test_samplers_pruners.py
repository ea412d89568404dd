"""Every sampler and every pruner by name: each sampler proposes from the study's real (conditional) space
and is seeded, each pruner stops poor trials (`none` never does), and each runs a tiny study end to end
on real stores."""

from __future__ import annotations

import optuna
import pytest
from stores import Store, store  # noqa: F401  (the shared-store fixture)

from harness.search.samplers import grid_size, make_pruner, make_sampler
from harness.search.space import sample
from harness.spec.names import PRUNERS, SAMPLERS
from harness.spec.schema import build_spec

SPACE = {
    "name": "tiny",
    "task": "regression",
    "data": {"source": "synthetic:linear"},
    "model": {"family": {"choice": ["linear", "mlp"]}, "n_layers": {"int": [1, 2]},
              "hidden": {"int": [4, 16], "log": True}, "dropout": {"float": [0.0, 0.3]}},
    "train": {"optimizer": {"choice": ["adam", "sgd"]}, "lr": {"float": [1.0e-3, 1.0e-1], "log": True},
              "batch_size": 256, "epochs": 9},
}
# The grid sampler enumerates choices and integer ranges only.
GRID_SPACE = {**SPACE, "model": {**SPACE["model"], "hidden": {"choice": [4, 16]}, "dropout": {"choice": [0.0, 0.2]}},
              "train": {**SPACE["train"], "lr": {"choice": [0.01, 0.1]}}}
SAMPLER_CLASSES = {"tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler", "cmaes": "CmaEsSampler",
                   "gp": "GPSampler", "qmc": "QMCSampler", "nsga2": "NSGAIISampler"}
PRUNER_CLASSES = {"median": "MedianPruner", "percentile": "PercentilePruner", "hyperband": "HyperbandPruner",
                  "successive_halving": "SuccessiveHalvingPruner", "none": "NopPruner"}


def spec_for(sampler: str = "tpe", pruner: str = "none", raw: dict | None = None, **study):
    raw = raw or (GRID_SPACE if sampler == "grid" else SPACE)
    spec = build_spec({**raw, "study": {"sampler": sampler, "pruner": pruner, **study}}, "test")
    return spec.resolved("regression")


def toy_objective(spec):
    """A cheap stand-in for training, so the samplers get past their random start-up trials."""

    def objective(trial: optuna.Trial) -> float:
        params = sample(spec, trial)
        return abs(params["lr"] - 0.03) + 0.01 * params.get("n_layers", 0) + params.get("dropout", 0.0)

    return objective


def test_the_names_cover_the_schema() -> None:
    assert set(SAMPLER_CLASSES) == set(SAMPLERS) and set(PRUNER_CLASSES) == set(PRUNERS)


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_is_seeded_and_proposes_from_the_conditional_space(name: str) -> None:
    spec = spec_for(name)
    assert type(make_sampler(spec)).__name__ == SAMPLER_CLASSES[name]
    # 11 trials: TPE and GP leave their 10 random start-up trials, CMA-ES its first.
    runs = []
    for _ in range(2):
        study = optuna.create_study(sampler=make_sampler(spec))
        study.optimize(toy_objective(spec), n_trials=11)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]  # the same seed proposes the same trials
    for params in runs[0]:
        assert ("n_layers" in params) == (params["family"] == "mlp")
    assert len({str(p) for p in runs[0]}) > 1
    other_seed = optuna.create_study(sampler=make_sampler(spec_for(name, seed=1)))
    other_seed.optimize(toy_objective(spec), n_trials=3)
    assert [t.params for t in other_seed.trials] != runs[0][:3]


def test_cmaes_refuses_a_multi_objective_study() -> None:
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="cmaes handles one objective only"):
        make_sampler(spec_for("cmaes", objectives=["val/rmse", "n_parameters"]))


@pytest.mark.parametrize("name", PRUNERS)
def test_pruner_stops_poor_trials(name: str) -> None:
    spec = spec_for(pruner=name)
    pruner = make_pruner(spec)
    assert type(pruner).__name__ == PRUNER_CLASSES[name]
    if name == "hyperband":
        assert pruner._max_resource == spec.train.epochs  # the resource is the epoch
    multi = spec_for(pruner=name, objectives=["val/rmse", "n_parameters"])
    assert type(make_pruner(multi)).__name__ == "NopPruner"  # Optuna cannot prune multi-objective studies

    # Curves as the training loop reports them: good trials improve each epoch, poor ones stay high.
    def objective(trial: optuna.Trial) -> float:
        poor = trial.suggest_categorical("poor", [False, True])
        for epoch in range(spec.train.epochs):
            value = 10.0 if poor else 1.0 / (epoch + 1)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    # A fixed name: hyperband assigns brackets from a checksum of the study name and trial number.
    study = optuna.create_study(study_name="pruning-curves", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=pruner)
    for poor in [False] * 5 + [True, False, True]:
        study.enqueue_trial({"poor": poor})
    study.optimize(objective, n_trials=8)
    pruned = [t.params["poor"] for t in study.trials if t.state.name == "PRUNED"]
    if name == "none":
        assert pruned == []
    else:
        assert pruned == [True, True]


# Each sampler and each pruner once in a real study; pairs keep the number of (seconds-long) studies down.
PAIRS = [("tpe", "median"), ("random", "percentile"), ("grid", "successive_halving"), ("cmaes", "hyperband"),
         ("gp", "none"), ("qmc", "median"), ("nsga2", "hyperband")]


def test_the_pairs_cover_every_sampler_and_pruner() -> None:
    assert {s for s, _ in PAIRS} == set(SAMPLERS) and {p for _, p in PAIRS} == set(PRUNERS)


@pytest.mark.parametrize("sampler, pruner", PAIRS, ids=[f"{s}+{p}" for s, p in PAIRS])
def test_every_sampler_and_pruner_runs_a_tiny_study(sampler: str, pruner: str, store: Store) -> None:
    result, study = store.run(spec_for(sampler, pruner), f"tiny-{sampler}-{pruner}", trials=2)
    states = [t.state.name for t in study.trials]
    assert len(states) == 2 and states[0] == "COMPLETE" and "FAIL" not in states
    # Every epoch was reported to the pruner; without one, a report would be a journal write for nothing.
    assert all(bool(t.intermediate_values) == (pruner != "none") for t in study.trials)
    assert result.decision.version is not None


def test_grid_runs_no_more_trials_than_its_points(store: Store) -> None:
    raw = {**SPACE, "model": {"family": "linear"}, "train": {**SPACE["train"], "optimizer": "adam",
                                                             "lr": {"choice": [0.01, 0.1]}, "epochs": 1}}
    spec = spec_for("grid", raw=raw)
    assert grid_size(spec) == 2
    lines = []
    store.run(spec, "grid-cap", trials=5, echo=lines.append)
    assert any("the grid has 2 points, 2 not yet tried: running 2 trials, not 5" in line for line in lines)
    assert sorted(t.params["lr"] for t in store.study("grid-cap").trials) == [0.01, 0.1]

"""Warm start: `study.enqueue` sets go first (once, not again on resume) and are checked against the space;
`--warm-start-from STUDY` enqueues the best trials of an earlier study in the same storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import mlflow_client, run_cli
from stores import Store, store  # noqa: F401  (the shared-store fixture)

from harness.errors import HarnessError
from harness.spec.schema import build_spec

SPACE = {
    "task": "regression",
    "data": {"source": "synthetic:linear"},
    "model": {"family": {"choice": ["linear", "mlp"]}, "n_layers": {"int": [1, 2]}, "hidden": {"int": [4, 16]}},
    "train": {"optimizer": {"choice": ["adam", "sgd"]}, "lr": {"float": [1.0e-3, 1.0e-1], "log": True},
              "batch_size": 256, "epochs": 2},
}


def spec_with(name: str = "warm", enqueue: list | None = None, **train):
    raw = {**SPACE, "name": name, "train": {**SPACE["train"], **train},
           "study": {"sampler": "random", "pruner": "none", "enqueue": enqueue or []}}
    return build_spec(raw, f"{name}.yaml")


def test_enqueued_sets_go_first_and_only_once(store: Store) -> None:
    sets = [{"family": "linear", "lr": 0.05}, {"family": "mlp", "n_layers": 2, "hidden": 8, "optimizer": "sgd"}]
    lines: list[str] = []
    _, study = store.run(spec_with(enqueue=sets), "enqueue", trials=3, echo=lines.append)
    assert any("2 parameter set(s) from study.enqueue go first" in line for line in lines)
    trials = study.trials
    assert {k: trials[0].params[k] for k in sets[0]} == sets[0]
    assert {k: trials[1].params[k] for k in sets[1]} == sets[1]

    lines.clear()
    _, study = store.run(spec_with(enqueue=sets), "enqueue", trials=2, echo=lines.append)
    assert not any("warm start" in line for line in lines)
    assert len(study.trials) == 5 and all(t.state.name == "COMPLETE" for t in study.trials)


@pytest.mark.parametrize("bad, message", [
    ({"lrr": 0.01}, "'lrr' cannot be enqueued: it is not a parameter of this study; searched parameters: "
                    "family, hidden, lr, n_layers, optimizer"),
    ({"batch_size": 64}, "'batch_size' cannot be enqueued: it is fixed (256) in this study"),
    ({"lr": 0.5}, "lr: 0.5 is outside its search space"),
    ({"optimizer": "adamw"}, "optimizer: 'adamw' is outside its search space"),
    ({"n_layers": 1.5}, "n_layers: 1.5 is outside its search space"),
    ({"family": "linear", "n_layers": 2}, "n_layers belongs to another family than 'linear'"),
])
def test_an_enqueued_set_that_does_not_fit_the_space_is_a_clear_error(store: Store, bad: dict, message: str) -> None:
    with pytest.raises(HarnessError) as err:
        store.run(spec_with("bad-enqueue", enqueue=[{"lr": 0.01}, bad]), "bad-enqueue", trials=1)
    assert str(err.value).startswith("bad-enqueue.yaml: study.enqueue[1]: ")
    assert message in str(err.value)
    assert not store.journal("bad-enqueue").exists()  # checked before anything is written


def test_warm_start_from_an_earlier_study(store: Store) -> None:
    _, earlier = store.run(spec_with("earlier"), "earlier", trials=5)
    best = sorted((t for t in earlier.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)[:3]

    # The new study fixes the optimizer: the earlier trials' optimizer is left out, the rest goes first.
    lines: list[str] = []
    _, later = store.run(spec_with("later", optimizer="adam"), "later", trials=4, warm_start_from="earlier",
                         echo=lines.append)
    assert any(f"the best 3 trial(s) of study earlier ({', '.join(str(t.number) for t in best)}) go first" in line
               for line in lines)
    assert any("left to the sampler, as they do not fit this study's space: optimizer" in line for line in lines)
    for old, new in zip(best, later.trials[:3]):
        assert new.params == {k: v for k, v in old.params.items() if k != "optimizer"}
    assert len(later.trials) == 4


@pytest.mark.slow  # a fresh CLI process
def test_warm_start_from_an_unknown_study_is_exit_code_2(workdir: Path) -> None:
    out = run_cli("study", "experiments/linear_synthetic.yaml", "--trials", "1", "--warm-start-from", "nope",
                  check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "error: --warm-start-from nope: no study journal at mlruns/optuna/nope.journal" in out.stderr
    assert mlflow_client().get_experiment_by_name("linear-synthetic") is None  # nothing was started


def test_a_resumed_study_draws_new_params_not_the_first_runs_again(store: Store) -> None:
    """A seeded sampler in a new process starts its draws over: without a stream of its own, a resumed
    study (or a second worker) proposes the first trials' params again."""
    _, first = store.run(spec_with("resumed"), "resumed", trials=3)
    _, study = store.run(spec_with("resumed"), "resumed", trials=3)
    before = [t.params for t in study.trials[:3]]
    after = [t.params for t in study.trials[3:]]
    assert len(after) == 3 and not any(p in before for p in after), (before, after)

"""The study file's schema: defaults in one place, distributions, --set overrides, resolution of auto."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.spec.distributions import ChoiceDist, FloatDist, IntDist
from harness.spec.schema import build_spec, load_spec

BASE = {"name": "s", "data": {"source": "sklearn:iris"}}


def test_defaults_and_distributions() -> None:
    spec = build_spec({**BASE, "model": {"hidden": {"int": [8, 64], "log": True},
                                         "activation": {"choice": ["relu", "tanh"]}},
                       "train": {"lr": {"float": [1e-4, 1e-1], "log": True}}}, "t.yaml")
    assert spec.model.hidden == IntDist(8, 64, log=True)
    assert spec.model.activation == ChoiceDist(("relu", "tanh"))
    assert spec.train.lr == FloatDist(1e-4, 1e-1, log=True)
    assert spec.train.epochs == 100 and spec.study.sampler == "tpe" and spec.registry.alias == "champion"


def test_set_overrides_any_value_with_yaml_syntax() -> None:
    spec = build_spec(dict(BASE), "t.yaml", ["train.epochs=7", "model.n_layers={int: [1, 3]}", "study.sampler=random"])
    assert spec.train.epochs == 7
    assert spec.model.n_layers == IntDist(1, 3)
    assert spec.study.sampler == "random"


def test_resolved_fills_auto_choices() -> None:
    spec = build_spec(dict(BASE), "t.yaml").resolved("classification")
    assert (spec.study.metric, spec.study.direction, spec.registry.name) == ("val/accuracy", "maximize", "s")
    spec = build_spec({**BASE, "study": {"metric": "val/mae"}}, "t.yaml").resolved("regression")
    assert spec.study.direction == "minimize"


@pytest.mark.parametrize("raw,fragment", [
    ({"model": {"hidden": {"int": [1, 4], "float": [1, 2]}}}, "exactly one"),
    ({"model": {"hidden": {"int": [4]}}}, "[low, high]"),
    ({"model": {"hidden": {"int": [1, 4], "log": True, "step": 2}}}, "both log"),
    ({"train": {"lr": {"float": [0.0, 0.1], "log": True}}}, "above zero"),
    ({"model": {"activation": {"choice": []}}}, "non-empty"),
    ({"model": {"activation": {"choice": ["relu", "swish"]}}}, "swish"),
    ({"data": {"source": "x.csv", "split": {"val": 0.5, "test": 0.45}}}, "too few training rows"),
    ({"task": "regression", "train": {"loss": "cross_entropy"}}, "classification"),
    ({"name": "bad name!"}, "name"),
])
def test_invalid_values_name_their_key(raw: dict, fragment: str) -> None:
    with pytest.raises(HarnessError) as err:
        build_spec({**BASE, **raw}, "t.yaml")
    assert fragment in str(err.value) and str(err.value).startswith("t.yaml: ")


def test_every_shipped_study_file_loads() -> None:
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parents[1].glob("experiments/*.yaml"))
    assert len(files) >= 3
    for path in files:
        assert load_spec(path).name

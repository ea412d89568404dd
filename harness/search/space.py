"""The one place where the declared search space becomes `trial.suggest_*` calls.

The result is a plain dict (fixed values included) that the builders and the training loop take. The
space is conditional: a family's own parameters are sampled only in trials of that family, per-layer
widths only for the sampled depth, momentum only for optimizers that have it, and so on, so each run's
params show exactly what its trial used.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.spec.distributions import (
    ChoiceDist,
    FloatDist,
    IntDist,
    every_value,
    values_of,
)
from harness.spec.names import AUGMENT_PARAMS, FAMILY_PARAMS, MODEL_CONDITIONS, TRAIN_PARAMS
from harness.spec.schema import StudySpec


def suggest(trial: Any, name: str, value: Any) -> Any:
    """A fixed value as it is; a distribution through the trial's matching suggest call."""
    if isinstance(value, IntDist):
        return trial.suggest_int(name, value.low, value.high, log=value.log, step=value.step)
    if isinstance(value, FloatDist):
        return trial.suggest_float(name, value.low, value.high, log=value.log)
    if isinstance(value, ChoiceDist):
        return trial.suggest_categorical(name, list(value.options))
    return value


def sample(spec: StudySpec, trial: Any) -> dict:
    """Sample one configuration: the family first, then only the parameters that family reads."""
    params = {"family": suggest(trial, "family", spec.model.family)}
    for key in FAMILY_PARAMS[params["family"]]:
        if key in MODEL_CONDITIONS and not MODEL_CONDITIONS[key](params):
            continue
        if key == "hidden" and params.get("per_layer_width"):
            params[key] = [suggest(trial, f"hidden_{i}", spec.model.hidden) for i in range(params["n_layers"])]
        else:
            params[key] = suggest(trial, key, getattr(spec.model, key))
    for key, applies in TRAIN_PARAMS.items():
        if applies(params):
            params[key] = suggest(trial, key, getattr(spec.train, key))
    for key in AUGMENT_PARAMS:
        value = getattr(spec.train.augment, key)
        if value in (0, False):  # fixed off (0.0 and False included): nothing to sample, nothing to log
            continue
        params[f"augment_{key}"] = suggest(trial, f"augment_{key}", value)
    # The numeric scaling is the data's, but a choice of it varies per trial (each fitted once per process).
    params["numeric"] = suggest(trial, "numeric", spec.data.numeric)
    return params


def layer_width_names(spec: StudySpec) -> list[str]:
    """`hidden_0`, `hidden_1`, ... up to the deepest searched MLP, when a trial may sample one width per
    layer (`per_layer_width`); none otherwise."""
    if True not in values_of(spec.model.per_layer_width):
        return []
    return [f"hidden_{i}" for i in range(max(values_of(spec.model.n_layers)))]


def searched(spec: StudySpec) -> dict[str, Any]:
    """Every distribution in the study file, by the name its trials suggest it under (`hidden_<i>` for
    per-layer widths, and no `hidden` when every trial samples one width per layer)."""
    out = {}
    for key in ("family", *{k for keys in FAMILY_PARAMS.values() for k in keys}):
        out[key] = getattr(spec.model, key)
    for name in layer_width_names(spec):
        out[name] = spec.model.hidden
    if False not in values_of(spec.model.per_layer_width):
        del out["hidden"]
    for key in TRAIN_PARAMS:
        out[key] = getattr(spec.train, key)
    for key in AUGMENT_PARAMS:
        out[f"augment_{key}"] = getattr(spec.train.augment, key)
    out["numeric"] = spec.data.numeric
    return {k: v for k, v in out.items() if isinstance(v, (IntDist, FloatDist, ChoiceDist))}


def grid_space(spec: StudySpec) -> dict[str, list]:
    """The grid sampler's grid: every choice and every integer range, enumerated."""
    grid = {}
    for name, dist in searched(spec).items():
        if isinstance(dist, FloatDist):
            raise HarnessError(f"{spec.origin}: study.sampler grid cannot enumerate the float range {name}; "
                               "use {choice: [...]} for it or another sampler")
        grid[name] = list(every_value(dist))
    return grid

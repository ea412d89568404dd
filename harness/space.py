"""The one place where the declared search space becomes `trial.suggest_*` calls.

The result is a plain dict (fixed values included) that the builders and the training loop take; a
family's own parameters are sampled only in trials of that family, so they appear only in its runs.
"""

from __future__ import annotations

from typing import Any

from harness.config import FAMILY_PARAMS, TRAIN_PARAMS, StudySpec
from harness.distributions import ChoiceDist, FloatDist, IntDist


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
        params[key] = suggest(trial, key, getattr(spec.model, key))
    for key in TRAIN_PARAMS:
        params[key] = suggest(trial, key, getattr(spec.train, key))
    return params

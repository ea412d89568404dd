"""A study-file value is either fixed (`epochs: 200`) or a distribution to search.

    {int: [1, 4]}              integers from 1 to 4 inclusive (optional `step`, `log: true`)
    {float: [1e-4, 1e-1], log: true}
    {choice: [adam, sgd]}

Distributions are plain frozen dataclasses so that every layer (config, space, tracking) can read them
without knowing about pydantic or Optuna.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IntDist:
    low: int
    high: int
    log: bool = False
    step: int = 1

    def to_yaml(self) -> dict:
        out: dict[str, Any] = {"int": [self.low, self.high]}
        if self.log:
            out["log"] = True
        if self.step != 1:
            out["step"] = self.step
        return out


@dataclass(frozen=True)
class FloatDist:
    low: float
    high: float
    log: bool = False

    def to_yaml(self) -> dict:
        out: dict[str, Any] = {"float": [self.low, self.high]}
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True)
class ChoiceDist:
    options: tuple

    def to_yaml(self) -> dict:
        return {"choice": list(self.options)}


Distribution = IntDist | FloatDist | ChoiceDist

_KINDS = {"int", "float", "choice"}


def parse_distribution(raw: dict) -> Distribution:
    """Read `{int: [lo, hi]}`, `{float: [lo, hi], log: true}` or `{choice: [...]}`; ValueError if malformed."""
    kinds = _KINDS & raw.keys()
    if len(kinds) != 1:
        raise ValueError(f"a distribution needs exactly one of int, float, choice; got keys {sorted(raw)}")
    kind = kinds.pop()
    extra = set(raw) - {kind, "log", "step"}
    if extra:
        raise ValueError(f"unknown key(s) {sorted(extra)} in a {kind} distribution")
    if kind == "choice":
        if set(raw) != {"choice"}:
            raise ValueError("a choice takes no log or step")
        options = raw["choice"]
        if not isinstance(options, list) or not options:
            raise ValueError("choice needs a non-empty list, e.g. {choice: [adam, sgd]}")
        return ChoiceDist(tuple(options))
    bounds = raw[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ValueError(f"{kind} needs [low, high], e.g. {{{kind}: [1, 4]}}")
    low, high = bounds
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"log must be true or false, got {log!r}")
    if kind == "int":
        if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
            raise ValueError(f"int bounds must be integers, got {bounds}")
        step = raw.get("step", 1)
        if not isinstance(step, int) or step < 1:
            raise ValueError(f"step must be a positive integer, got {step!r}")
        if log and step != 1:
            raise ValueError("an int range cannot have both log: true and a step")
        dist: Distribution = IntDist(low, high, log, step)
    else:
        if "step" in raw:
            raise ValueError("a float range takes no step")
        if not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds):
            raise ValueError(f"float bounds must be numbers, got {bounds}")
        if not all(math.isfinite(b) for b in bounds):
            raise ValueError(f"float bounds must be finite, got {bounds}")
        dist = FloatDist(float(low), float(high), log)
    if low > high:
        raise ValueError(f"low {low} is greater than high {high}")
    if log and low <= 0:
        raise ValueError(f"a log range must stay above zero, got low {low}")
    return dist


def every_value(value: Any) -> tuple:
    """Every value a fixed value, a choice or an integer range can take; a float range has no list."""
    if isinstance(value, IntDist):
        return tuple(range(value.low, value.high + 1, value.step))
    if isinstance(value, FloatDist):
        raise ValueError("a float range cannot be enumerated")
    return values_of(value)


def values_of(value: Any) -> tuple:
    """Every value a fixed value or a choice can take (ranges answer with their bounds)."""
    if isinstance(value, ChoiceDist):
        return value.options
    if isinstance(value, (IntDist, FloatDist)):
        return (value.low, value.high)
    return (value,)

"""Rules a study file's values must follow beyond their types, checked when the file loads so that no
trial (and no run) is spent on a value that can only fail: numeric ranges, and the registry's names.

Plain Python: the registry rules restate MLflow's own (mlflow/utils/validation.py in 3.17) without
importing MLflow; tests/test_bad_study_file.py holds them to what a real MLflow registry accepts.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from harness.spec.distributions import ChoiceDist, FloatDist, IntDist

# Seeds feed numpy's and scikit-learn's generators, which take 0 <= seed < 2**32.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Bounds:
    """Where a number may lie: `low`/`high` (None for no limit), each inclusive unless marked open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        """`> 0`, `>= 1` or `in [0, 1)`."""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"{'<' if self.high_open else '<='} {self.high:g}"


POSITIVE = Bounds(low=0, low_open=True)
NON_NEGATIVE = Bounds(low=0)
AT_LEAST_ONE = Bounds(low=1)
FRACTION = Bounds(low=0, high=1, high_open=True)  # a probability that must leave something: dropout, momentum


def check_bounds(value: Any, bounds: Bounds) -> Any:
    """`value` (fixed, a range or a choice) if every value it can take is within `bounds`; else ValueError."""
    if isinstance(value, (IntDist, FloatDist)):
        outside = [b for b in (value.low, value.high) if not bounds.holds(b)]
        if outside:
            raise ValueError(f"must be {bounds.describe()}, but the range [{value.low:g}, {value.high:g}] reaches "
                             f"{outside[0]:g}")
        return value
    for option in value.options if isinstance(value, ChoiceDist) else (value,):
        if isinstance(option, (int, float)) and not isinstance(option, bool) and not bounds.holds(option):
            raise ValueError(f"must be {bounds.describe()}, got {option!r}")
    return value


# MLflow's registry: a model name is a path segment of its REST API; an alias is a word that must not
# read as a version (`v3`) or as MLflow's own `latest`.
ALIAS_PATTERN = re.compile(r"^[\w\-]+$")
RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+)$", re.IGNORECASE)
MAX_ALIAS_LENGTH = 255


def check_model_name(name: str) -> str:
    """A registered model name MLflow accepts (no `/` or `:`, not a path that normalizes to another)."""
    if not name.strip():
        raise ValueError("the registered model name is empty; leave register.name out to use the study's name")
    if "/" in name or ":" in name:
        raise ValueError(f"{name!r}: registered model names cannot contain '/' or ':' (MLflow reads them as a "
                         "path); use - or _")
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        raise ValueError(f"{name!r} would be read as the path {normal!r}; use letters, digits, - and _")
    return name


def check_alias(alias: str) -> str:
    """An alias MLflow accepts and does not reserve: letters, digits, _ and -, not `latest` nor `v<digits>`."""
    if not alias:
        raise ValueError("the alias is empty; use a word such as champion")
    if not ALIAS_PATTERN.match(alias):
        raise ValueError(f"{alias!r}: an alias may only hold letters, digits, _ and -")
    if RESERVED_ALIAS.match(alias):
        raise ValueError(f"{alias!r} is reserved by MLflow (`latest` and v<number> name versions); use a word "
                         "such as champion")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise ValueError(f"the alias is {len(alias)} characters long; MLflow takes at most {MAX_ALIAS_LENGTH}")
    return alias

"""Rows that belong together: a person's eight yearly wages, a store's daily sales, a patient's visits.

A random split puts some of a group's rows in training and others in test, so the test score measures
how well the model knows groups it has already seen. `data.split.group: COLUMN` keeps each group's rows
in one split (and in one cross-validation fold), so the score is for groups the model has never seen;
the column itself is then no feature. Without it, a column named like an id whose values repeat is
pointed out (`group_hints`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.data.profile import ID_NAME
from harness.errors import HarnessError

MIN_GROUPS = 3  # one for each split
HINT_MIN_GROUPS = 10  # fewer values are more likely a code (a `yes_no`) than people or stores


def group_labels(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The group of each row; a row without one is a group of its own."""
    groups = frame[column].astype(str).to_numpy(dtype=object)
    missing = frame[column].isna().to_numpy()
    groups[missing] = [f"<row {i}>" for i in np.flatnonzero(missing)]
    return groups


def group_split(groups: np.ndarray, val: float, test: float, seed: int, notes: list[str]) -> dict[str, np.ndarray]:
    """Row indices of train/val/test with each group's rows in one split: the groups in an order drawn
    from `seed`, the first ones to test until it holds `test` of the rows, the next to validation."""
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if len(names) < MIN_GROUPS:
        raise HarnessError(f"data.split.group: {len(names)} group(s); the split needs at least {MIN_GROUPS}, one "
                           "for each of train, validation and test")
    order = np.random.default_rng(seed).permutation(len(names))
    filled = np.cumsum(sizes[order]) / len(groups)
    # Groups until each share is reached, and at least one group for each split.
    n_test = int(np.clip(np.searchsorted(filled, test) + 1, 1, len(names) - 2))
    n_val = int(np.clip(np.searchsorted(filled, test + val) + 1 - n_test, 1, len(names) - 1 - n_test))
    split_of = np.empty(len(names), dtype=object)
    split_of[order[:n_test]] = "test"
    split_of[order[n_test:n_test + n_val]] = "val"
    split_of[order[n_test + n_val:]] = "train"
    rows = split_of[inverse]
    parts = {name: np.flatnonzero(rows == name) for name in ("train", "val", "test")}
    counts = ", ".join(f"{name} {int((split_of == name).sum())}" for name in ("train", "val", "test"))
    notes.append(f"rows split by group: {len(names)} groups ({counts}), each group's rows in one split")
    return parts


def group_hints(frame: pd.DataFrame, features: list[str]) -> list[str]:
    """A warning for each feature named like an id whose values repeat: rows that may belong together."""
    hints = []
    for name in features:
        column = frame[name].dropna()
        if not ID_NAME.search(str(name)) or column.empty:
            continue
        distinct = column.nunique()
        if HINT_MIN_GROUPS <= distinct <= len(column) / 2:
            hints.append(f"warning: column {name!r} is named like an id and repeats its values ({distinct} values, "
                         f"{len(column) / distinct:.1f} rows each): if rows with one {name} belong together, a "
                         f"random split puts them in training and test alike; data.split.group: {name} keeps "
                         f"each in one split (--set data.split.group={name})")
    return hints

"""What a table's values must be before a study spends a trial on them: finite numbers that survive
standardization, a target that varies, and classes that each have training rows.

Each check names the column, how many values are wrong and the first rows (numbered from 1, the first
row after the header), so the user can find them in the file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.errors import HarnessError

SHOWN_ROWS = 5  # rows named in a message; the count says how many there are in all
MIN_ROWS = 10  # fewer leave a split empty or a single row
MIN_CLASS_ROWS = 3  # one row for each split; a rarer class trains only


def rows_text(positions) -> str:
    """`row 4` or `rows 4, 9, 12, ...`: 1-based row numbers of the first few positions."""
    positions = list(positions)
    shown = ", ".join(str(p + 1) for p in positions[:SHOWN_ROWS]) + (", ..." if len(positions) > SHOWN_ROWS else "")
    return f"row{'s' if len(positions) > 1 else ''} {shown}"


def _spread(values: np.ndarray) -> float:
    """The standard deviation, or inf where computing it overflows float64 (values near 1e308)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.std(values - np.mean(values)))


def check_numbers(frame: pd.DataFrame, columns: list[str], key: str) -> None:
    """Every numeric column in `columns` holds finite values whose mean and spread float64 can compute."""
    for name in columns:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        infinite = np.flatnonzero(np.isinf(values))
        if len(infinite):
            raise HarnessError(f"{key}: column {name!r} has {len(infinite)} infinite value(s) ({rows_text(infinite)}); "
                               "replace them with numbers or leave the cells empty")
        known = values[~np.isnan(values)]
        if len(known) and not np.isfinite(_spread(known)):
            largest = int(np.argmax(np.abs(np.nan_to_num(values))))
            raise HarnessError(f"{key}: column {name!r} holds values too large to standardize ({values[largest]:g} "
                               f"in {rows_text([largest])}); rescale the column, e.g. divide it by a power of ten")


def check_regression_target(values: pd.Series, target: str) -> None:
    """A regression target that varies: a constant leaves nothing to learn (and no spread to scale by)."""
    if values.nunique() < 2:
        raise HarnessError(f"data.target: {target!r} is {values.iloc[0]:g} in every row; there is nothing to learn "
                           "(choose another target)")


def beyond_float32(matrix: np.ndarray) -> np.ndarray:
    """Per column, how many encoded values float32 cannot hold (NaN and inf included)."""
    with np.errstate(invalid="ignore"):
        return (~(np.abs(matrix) <= np.finfo(np.float32).max)).sum(axis=0)


def check_encoded(counts: np.ndarray, names, split: str) -> None:
    """Encoded features are finite: a value far outside the training rows' range can overflow float32 once
    standardized with their spread. `counts`: beyond_float32 of the split's encoded rows, added up."""
    bad_columns = np.flatnonzero(counts)
    if len(bad_columns):
        column = str(names[bad_columns[0]]).split("__", 1)[-1]
        raise HarnessError(f"data.source: column {column!r} has values in the {split} split that do not fit in "
                           f"float32 once standardized with the training rows' spread ({counts[bad_columns[0]]} "
                           "value(s)); rescale the column or remove the outliers")


def check_row_count(n: int) -> None:
    if n < MIN_ROWS:
        raise HarnessError(f"data: only {n} row(s); a study needs at least {MIN_ROWS} to split into train/val/test")


def rare_classes(labels: np.ndarray) -> list:
    """Classes with fewer than MIN_CLASS_ROWS rows, in a stable order."""
    counts = pd.Series(labels).value_counts()
    return sorted(counts[counts < MIN_CLASS_ROWS].index.tolist(), key=str)


def check_class_sizes(labels: np.ndarray, target: str = "the target") -> None:
    """Classes a classifier can learn: not (mostly) one row each, as an identifier or a measured number is."""
    counts = pd.Series(labels).value_counts()
    common_rows = int(counts[counts >= MIN_CLASS_ROWS].sum())
    if len(counts) > len(labels) / 2 or common_rows < MIN_ROWS:
        rare = int((counts < MIN_CLASS_ROWS).sum())
        raise HarnessError(f"data.target: {target!r} has {len(counts)} classes in {len(labels)} rows, {rare} of them "
                           f"with fewer than {MIN_CLASS_ROWS} rows, which no classifier can learn; if it is a number "
                           "to predict use task: regression, if it is an identifier choose another target")


def check_classes_trainable(labels: np.ndarray, split_labels: dict[str, np.ndarray], target: str) -> None:
    """Every class has training rows: a class seen only in validation or test can never be learned (and
    the reference models refuse such labels)."""
    trained = set(pd.unique(split_labels["train"]).tolist())
    unseen = sorted({v for name in ("val", "test") for v in pd.unique(split_labels[name]).tolist()} - trained, key=str)
    if unseen:
        raise HarnessError(f"data.target: {len(unseen)} class(es) of {target!r} have no training rows after the "
                           f"split ({', '.join(map(repr, unseen[:SHOWN_ROWS]))}); give each class more rows, or "
                           "drop or merge the rare ones")

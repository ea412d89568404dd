"""A look at a table's columns before a study: which are identifiers (every value distinct, nothing to
learn), which nearly copy the target (a leak, or a feature known only with the answer), and, once the
preprocessor is fitted, how each column was treated, in words a user can check.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from harness.data.columns import TEXT_MIN_WORDS, is_date, is_number
from harness.data.scaling import describe_scaler, describe_scalings

# id, key, index, and the number of a thing: `nr`, `no` (a person's `nr`, a row's `No`), alone or as a suffix
ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|key|index|nr|no)$|^(id|uuid)[_\s-]|[a-z]Id$", re.IGNORECASE)
MIN_ROWS_FOR_ID = 20  # fewer rows than this: all-distinct values are no evidence of an identifier
NEAR_COPY = 0.98  # |rank correlation| (regression) or class purity (classification) above which we warn
NEAR_COPY_ERRORS = 0.25  # classification: a copy errs at most this share as often as the most frequent class
NEAR_COPY_ROWS = 100_000  # rows looked at (a sample of a larger table)
REPEATS, MIN_REPEATS = 0.01, 10  # share and count of repeated rows worth a note
NAME_SHOWN = 40  # characters of a column's name in the terminal's listing


def identifier_reason(column: pd.Series, name: str) -> str | None:
    """Why a column is an identifier (and so dropped in quick mode), or None: every value distinct and
    either short codes/names (not free text, not dates) or whole numbers named like an id or counting 1, 2, 3."""
    values = column.dropna()
    if len(values) < MIN_ROWS_FOR_ID or values.nunique() < len(values) or is_date(column):
        return None
    if not is_number(column):
        words = values.astype(str).str.split().str.len().mean()
        if words < TEXT_MIN_WORDS:
            return "identifier: every value distinct, short codes or names"
        return None
    if not pd.api.types.is_integer_dtype(values) and not (values == values.round()).all():
        return None
    if ID_NAME.search(str(name)):
        return "identifier: whole numbers, every value distinct, named like an id"
    steps = np.diff(np.sort(values.to_numpy()))
    if len(steps) and (steps == 1).all():
        return "identifier: whole numbers counting up by one (a row number)"
    return None


def identifiers(features: pd.DataFrame) -> dict[str, str]:
    """{column: reason} for each identifier column of a table of features."""
    found = {}
    for name in features.columns:
        reason = identifier_reason(features[name], name)
        if reason:
            found[str(name)] = reason
    return found


def nested(features: pd.DataFrame) -> dict[str, str]:
    """{column: reason} for each column whose cells hold lists, arrays or mappings (a Parquet list or struct
    column): no encoder here reads them, and counting their values fails on them."""
    found = {}
    for name in features.columns:
        if features[name].dtype != object:
            continue
        first = features[name].dropna().head(1)
        if len(first) and isinstance(first.iloc[0], (list, tuple, dict, set, np.ndarray)):
            found[str(name)] = f"lists or mappings in its cells (e.g. {_shown(first.iloc[0])}): no encoder reads them"
    return found


def repeated_rows(frame: pd.DataFrame) -> list[str]:
    """A note when REPEATS or more of the rows repeat an earlier row in every column, the target too: a
    copy of a training row in the test split is a question whose answer the model has seen. Only where a
    column holds measured numbers (with decimals): in a table of categories alone (Titanic's class, age,
    sex) people who share every value are separate observations, not copies."""
    if not any(pd.api.types.is_float_dtype(frame[c]) and (frame[c].dropna() % 1 != 0).any() for c in frame.columns):
        return []
    repeats = int(pd.util.hash_pandas_object(frame, index=False).duplicated().sum())  # 0.25 s per 1M x 5
    if repeats < max(MIN_REPEATS, REPEATS * len(frame)):
        return []
    return [f"{repeats:,} of {len(frame):,} rows repeat an earlier row in every column, the target too: where "
            "copies of one row fall in training and test, the test score is optimistic; if they are copies, "
            "not separate observations, drop them (pandas: drop_duplicates)"]


def uninformative(features: pd.DataFrame) -> dict[str, str]:
    """{column: reason} for each column that cannot tell one row from another: no value at all, or one
    value throughout (missing cells are imputed with that same value, so they tell nothing either)."""
    found = {}
    for name in features.columns:
        values = features[name].dropna()
        if values.empty:
            found[str(name)] = "no values: every row is missing"
        elif values.nunique() == 1:
            found[str(name)] = f"one value throughout: {_shown(values.iloc[0])}"
    return found


def _shown(value) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."


def near_copies(frame: pd.DataFrame, target: str, task: str) -> list[str]:
    """One warning per feature that nearly copies the target: a rank correlation of 0.98 or more with a
    numeric target, or (classification) values that each point to one class in 98% or more of the rows
    (and err a quarter as often as guessing the most frequent class, or less) while taking far fewer
    values than there are rows."""
    frame = frame.sample(NEAR_COPY_ROWS, random_state=0) if len(frame) > NEAR_COPY_ROWS else frame
    y = frame[target]
    found = []
    for name in frame.columns:
        if name == target:
            continue
        x = frame[name]
        known = x.notna() & y.notna()
        if known.sum() < 10:
            continue
        if task == "regression" and is_number(x) and is_number(y):
            r = x[known].rank().corr(y[known].rank())
            if np.isfinite(r) and abs(r) >= NEAR_COPY:
                found.append(f"warning: column {name!r} nearly copies the target {target!r} "
                             f"(rank correlation {r:.3f}); {_advice(name)}")
        elif task == "classification" and x[known].nunique() <= known.sum() / 2:
            pairs = pd.DataFrame({"x": x[known].astype(str), "y": y[known].astype(str)})
            purity = pairs.groupby("x")["y"].agg(lambda v: v.value_counts().iloc[0]).sum() / len(pairs)
            # Against the most frequent class: at 98% of one class any column "gives the class" in 98% of
            # rows; a copy also takes away most of the errors that guessing that class makes.
            majority = pairs["y"].value_counts().iloc[0] / len(pairs)
            if purity >= NEAR_COPY and 1 - purity <= NEAR_COPY_ERRORS * (1 - majority) and pairs["x"].nunique() > 1:
                found.append(f"warning: column {name!r} nearly copies the target {target!r} "
                             f"(its value gives the class in {purity:.1%} of rows); {_advice(name)}")
    return found


def _advice(name: str) -> str:
    return f"if it is known only together with the target, drop it (data.drop or --drop {name})"


def treatments(preprocessor, dropped: dict[str, str]) -> list[tuple[str, str, str]]:
    """(column, treatment, detail) for every column: what the fitted preprocessor does with it, or why it
    was dropped before (given as {column: reason})."""
    rows = [(name, "dropped", reason) for name, reason in dropped.items()]
    for label, transformer, columns in preprocessor.transformers_:
        columns = [columns] if isinstance(columns, str) else list(columns)
        if label == "remainder" and transformer == "drop":  # only columns without a value go there
            names = preprocessor.feature_names_in_
            rows[len(dropped):len(dropped)] = [  # beside the other dropped columns, which are listed first
                (str(names[c]) if isinstance(c, (int, np.integer)) else c, "dropped", "no values in the training rows")
                for c in columns]
            continue
        if transformer == "drop":
            continue
        for column in columns:
            if label == "numeric":
                rows.append((column, "numeric", f"missing values: median; {describe_scaler(transformer[-1])}"))
            elif label == "categorical":
                rows.append((column, "categorical", _one_hot(transformer[-1], columns.index(column))))
            elif label.startswith("text:"):
                words = len(transformer[-1].vocabulary_)
                rows.append((column, "text", f"TF-IDF of words and word pairs, {words} terms"))
            elif label == "dates":
                rows.append((column, "date", "parsed into year, month, day, weekday, days since 1970; standardized"))
    return rows


def _one_hot(encoder, index: int) -> str:
    values = len(encoder.categories_[index])
    rare = encoder.infrequent_categories_[index]
    if rare is None:
        return f"one-hot, {values} values; missing: most frequent"
    return (f"one-hot, {values} values: the {values - len(rare)} most frequent, the other {len(rare)} as one; "
            "missing: most frequent")


def with_scaling(rows: list[tuple[str, str, str]], scalings: list[str]) -> list[tuple[str, str, str]]:
    """The treatments as the networks see numeric columns (`data.numeric`); the prepared data, which the
    baselines read, is standardized whatever the networks use."""
    if scalings == ["standard"]:
        return rows
    detail = f"missing values: median; {describe_scalings(scalings)} (baselines: standardized)"
    return [(name, kind, detail if kind == "numeric" else text) for name, kind, text in rows]


def report_lines(rows: list[tuple[str, str, str]]) -> list[str]:
    """The treatments as aligned lines for the terminal; a name longer than NAME_SHOWN is cut there, so
    one long name does not push every treatment off the screen (the report shows it whole)."""
    names = [str(name) if len(str(name)) <= NAME_SHOWN else str(name)[:NAME_SHOWN - 3] + "..." for name, _, _ in rows]
    width = max((len(name) for name in names), default=0)
    return [f"{name:<{width}}  {kind:<11}  {detail}" for name, (_, kind, detail) in zip(names, rows)]

"""Table columns as the network sees them: numbers scaled (data/scaling.py), categories one-hot, free text
as TF-IDF, dates as numeric parts (year, month, day, weekday, days since 1970).

One fitted ColumnTransformer does it all; the packaged model holds the same object, so the registered
model takes raw rows exactly like the study's own.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from harness.data.numbers import is_placeholder, to_numbers
from harness.data.scaling import numeric_scaler
from harness.data.sources import as_text

# A non-numeric column is free text (TF-IDF, not one-hot) when most values are distinct and average this
# many words; TF-IDF keeps the most frequent words and word pairs, which bounds the network's input width.
TEXT_MIN_WORDS, TEXT_MIN_DISTINCT, TFIDF_MAX_FEATURES = 3.0, 0.5, 2000
# One-hot columns per categorical column: its most frequent values, the rest sharing one column, so that
# the training rows' encoding of the column stays within ONE_HOT_CELLS float32 cells (800 MB), and never
# fewer than MIN_ONE_HOT columns. The encoding is dense: a zip code column of a million-row table would
# not fit in memory. The bound is generous because every column learned from counts: 7,426 cities on
# 21,000 rows (all kept) reached validation RMSE 0.46; bounded to 2,380, 0.91; to 200, 1.04.
ONE_HOT_CELLS, MIN_ONE_HOT = 200_000_000, 100
# A non-numeric column is a date when nearly all its values look like one (digits, a separator, digits,
# a separator, digits: 2024-05-17, 17/05/2024, 2024-05-17T10:00) and parse as one. One-hot encoding
# would give every distinct day a feature of its own; its parts carry the order and the season instead.
DATE_SHAPE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
DATE_MIN_SHARE, DATE_SAMPLE = 0.9, 500
DATE_PARTS = ("year", "month", "day", "weekday", "days")


def one_hot_limit(rows: int) -> int:
    """The most one-hot columns a categorical column gets, for this many training rows."""
    return max(MIN_ONE_HOT, ONE_HOT_CELLS // max(rows, 1))


def is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def detect_text_columns(features: pd.DataFrame) -> list[str]:
    """Free text: non-numeric columns whose values are mostly distinct and several words long."""
    found = []
    for name in features.columns:
        values = features[name].dropna()
        if is_number(features[name]) or values.empty:
            continue
        values = values.astype(str)
        distinct = values.nunique() >= TEXT_MIN_DISTINCT * len(values)
        if distinct and values.str.split().str.len().mean() >= TEXT_MIN_WORDS:
            found.append(name)
    return found


def is_date(column: pd.Series) -> bool:
    """Non-numeric values that nearly all have a date's shape and parse as dates."""
    if is_number(column) or pd.api.types.is_bool_dtype(column):
        return False
    values = column.dropna().astype(str)
    if values.empty:
        return False
    sample = values.sample(min(len(values), DATE_SAMPLE), random_state=0)
    if sample.str.match(DATE_SHAPE).mean() < DATE_MIN_SHARE:
        return False
    # utc: dates with their offsets (a zone's summer and winter time) parse as one column, not an error
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True)
    return parsed.notna().mean() >= DATE_MIN_SHARE


def detect_date_columns(features: pd.DataFrame) -> list[str]:
    """Columns of dates (see is_date), in the features' order."""
    return [name for name in features.columns if is_date(features[name])]


def date_parts(columns) -> np.ndarray:
    """Dates (as text, one column or several) to numbers per row: year, month, day, weekday (0 = Monday)
    and days since 1970-01-01 for each column; a value that does not parse gives NaN (then imputed)."""
    table = np.asarray(columns, dtype=object)
    table = table.reshape(len(table), -1)
    out = []
    for values in table.T:
        values = pd.Series(values)
        when = pd.to_datetime(values.where(values.notna(), None), errors="coerce", format="mixed", utc=True)
        when = when.dt.tz_convert(None)
        days = (when - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        out += [np.asarray(p, dtype=np.float64) for p in (when.dt.year, when.dt.month, when.dt.day,
                                                          when.dt.weekday, days)]
    return np.column_stack(out) if out else np.empty((len(table), 0))


def date_part_names(transformer, names) -> list[str]:
    """Output names of date_parts: `<column>_year`, `<column>_month`, ..."""
    return [f"{name}_{part}" for name in names for part in DATE_PARTS]


def text_values(column) -> list[str]:
    """One string per row for TF-IDF; missing text is the empty string."""
    return ["" if pd.isna(v) else str(v) for v in np.asarray(column, dtype=object).ravel()]


def build_preprocessor(features: pd.DataFrame, text: list[str] | None = None,
                       dates: list[str] | None = None, numeric: str = "standard") -> ColumnTransformer:
    """Numbers: median-imputed and scaled by `numeric` (standard, robust, quantile). Text columns (`text`,
    default: detected): TF-IDF of words and word pairs. Dates (default: detected): their numeric parts,
    imputed and standardized. Everything else: mode-imputed and one-hot encoded. The output is always
    dense, numeric columns first (the network's numeric embeddings rely on it). A column with no value in
    `features` (the training rows) is left out: there is nothing to impute it from or learn from it, and
    the imputers would warn about it at every transform, a served model's too."""
    empty = set(empty_columns(features))
    dates = [c for c in (detect_date_columns(features) if dates is None else dates) if c not in empty]
    text = [c for c in (detect_text_columns(features) if text is None else text) if c not in dates and c not in empty]
    numbers = [c for c in features.columns if is_number(features[c]) and c not in text and c not in empty]
    categorical = [c for c in features.columns if c not in {*numbers, *text, *dates, *empty}]
    vectorizers = [(f"text:{c}", make_pipeline(
        FunctionTransformer(text_values, feature_names_out="one-to-one"),
        TfidfVectorizer(max_features=TFIDF_MAX_FEATURES, ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32),
    ), c) for c in text]  # a column name, not a list: the vectorizer takes one string per row
    return ColumnTransformer(
        [
            # np.median per column: the same medians as strategy="median", whose masked-array sort took 9 s
            # of a 1M-row preparation here (np.median partitions instead: 1.2 s).
            ("numeric", make_pipeline(SimpleImputer(strategy=np.median), numeric_scaler(numeric, len(features))),
             numbers),
            ("categorical", make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", max_categories=one_hot_limit(len(features)),
                              sparse_output=False),
            ), categorical),
            *vectorizers,
            *([("dates", make_pipeline(
                FunctionTransformer(date_parts, feature_names_out=date_part_names),
                SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
            ), dates)] if dates else []),
        ],
        sparse_threshold=0.0,
    )


def empty_columns(features: pd.DataFrame) -> list[str]:
    """Columns without a single value."""
    return [name for name in features.columns if features[name].isna().all()]


def numeric_width(preprocessor: ColumnTransformer) -> int:
    """How many leading output columns of a fitted preprocessor are numeric."""
    window = preprocessor.output_indices_.get("numeric", slice(0, 0))
    return window.stop - window.start


def as_model_input(features: pd.DataFrame) -> pd.DataFrame:
    """Columns as the packaged model will receive them: numbers as float64 (whole numbers too: a row to
    predict may miss a value there, which only a float holds), anything else as text."""
    out = features.copy(deep=False)  # copy-on-write: only the columns converted below are new arrays
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]) or not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = as_text(out[column])
        elif out[column].dtype != np.float64:
            out[column] = out[column].astype(np.float64)
    return out


def numeric_columns(preprocessor: ColumnTransformer) -> list[str]:
    """The columns a fitted preprocessor reads as numbers (imputed with the median, then scaled)."""
    return [c for name, _, columns in preprocessor.transformers_ if name == "numeric" for c in columns]


def as_fitted_input(preprocessor: ColumnTransformer, features: pd.DataFrame) -> pd.DataFrame:
    """Raw rows as the fitted preprocessor takes them, whatever types they arrive in (int64 from a CSV,
    None from JSON): its number columns as float64, every other column as text with missing values as
    NaN, which the imputers fill. Text in a number column is a ValueError that names the column."""
    numeric = set(numeric_columns(preprocessor))
    out = features.copy()
    for column in out.columns:
        if column not in numeric:
            out[column] = as_text(out[column])
            continue
        values = to_numbers(out[column])  # `$1,234.56` too, as a table is read, and `?` as missing
        text = values.isna() & out[column].notna() & ~is_placeholder(out[column])
        if text.any():
            raise ValueError(f"column {column!r} takes numbers, but holds {out[column][text].iloc[0]!r} "
                             f"({int(text.sum())} such value(s))")
        out[column] = values
    return out

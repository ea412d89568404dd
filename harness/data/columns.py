"""Table columns as the network sees them: numbers scaled (data/scaling.py), categories one-hot, free text
as TF-IDF.

One fitted ColumnTransformer does it all; the packaged model holds the same object, so the registered
model takes raw rows exactly like the study's own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from harness.data.scaling import numeric_scaler
from harness.data.sources import as_text

# A non-numeric column is free text (TF-IDF, not one-hot) when most values are distinct and average this
# many words; TF-IDF keeps the most frequent words and word pairs, which bounds the network's input width.
TEXT_MIN_WORDS, TEXT_MIN_DISTINCT, TFIDF_MAX_FEATURES = 3.0, 0.5, 2000


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


def text_values(column) -> list[str]:
    """One string per row for TF-IDF; missing text is the empty string."""
    return ["" if pd.isna(v) else str(v) for v in np.asarray(column, dtype=object).ravel()]


def build_preprocessor(features: pd.DataFrame, text: list[str] | None = None,
                       numeric: str = "standard") -> ColumnTransformer:
    """Numbers: median-imputed and scaled by `numeric` (standard, robust, quantile). Text columns (`text`,
    default: detected): TF-IDF of words and word pairs. Everything else: mode-imputed and one-hot encoded.
    The output is always dense, numeric columns first (the network's numeric embeddings rely on it)."""
    text = detect_text_columns(features) if text is None else list(text)
    numbers = [c for c in features.columns if is_number(features[c]) and c not in text]
    categorical = [c for c in features.columns if c not in numbers and c not in text]
    vectorizers = [(f"text:{c}", make_pipeline(
        FunctionTransformer(text_values, feature_names_out="one-to-one"),
        TfidfVectorizer(max_features=TFIDF_MAX_FEATURES, ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32),
    ), c) for c in text]  # a column name, not a list: the vectorizer takes one string per row
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), numeric_scaler(numeric, len(features))),
             numbers),
            ("categorical", make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            ), categorical),
            *vectorizers,
        ],
        sparse_threshold=0.0,
    )


def numeric_width(preprocessor: ColumnTransformer) -> int:
    """How many leading output columns of a fitted preprocessor are numeric (all-missing ones are dropped)."""
    window = preprocessor.output_indices_.get("numeric", slice(0, 0))
    return window.stop - window.start


def as_model_input(features: pd.DataFrame) -> pd.DataFrame:
    """Columns as the packaged model will receive them: numbers stay numbers, anything else becomes text."""
    out = features.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]) or not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = as_text(out[column])
    return out

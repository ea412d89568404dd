"""A raw table as a model takes it, and every value the model would have to guess about.

The columns come from the model's signature; their types and the guesses are read from the fitted
preprocessor the model carries (its number columns, its imputers' fill values, its encoder's categories),
never from a second copy of the training columns:

    text in a numeric column   read as missing, then imputed with the training median
    a missing number           imputed with the training median
    an unseen category         encoded as none of the known categories (an all-zero one-hot)
    an empty category cell     filled with the training rows' most frequent category

`harness predict` prints one warning line per problem; `--strict` refuses the file instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from harness.data.columns import numeric_columns
from harness.data.numbers import is_placeholder, to_numbers
from harness.data.sources import as_text
from harness.data.values import rows_text
from harness.errors import HarnessError


@dataclass
class InputProblem:
    """Values of one column that the model will have to guess about."""

    column: str
    what: str  # e.g. "text value(s) in a numeric column ('abc')"
    rows: np.ndarray  # positions in the input, from 0
    treatment: str  # what the model does with them

    def message(self) -> str:
        return f"column {self.column!r}: {len(self.rows)} {self.what} ({rows_text(self.rows)}), {self.treatment}"


def input_frame(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns from a raw table (extra columns such as the target are dropped), cast to
    what the model reads: the preprocessor's number columns as float64 (a text value becomes missing and
    is reported by `input_problems`), text columns as str."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        return frame
    columns = schema.input_names()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise HarnessError(f"no column(s) {', '.join(missing)}; the model needs: {', '.join(columns)}")
    preprocessor = fitted_preprocessor(model)
    numbers = set(numeric_columns(preprocessor)) if preprocessor is not None else set()
    out = frame[columns].copy()
    for col_spec in schema.inputs:
        name, kind = col_spec.name, getattr(col_spec.type, "name", None)  # DataType: double, long, string
        if kind in ("long", "integer"):  # a model packaged before number columns were declared Any
            if out[name].isna().any():
                raise HarnessError(f"column {name!r} has missing values, but this model (packaged by an older "
                                   "harness) takes whole numbers there; fill them in")
        elif name in numbers or kind in ("double", "float"):
            out[name] = to_numbers(out[name])
        elif kind == "string" or preprocessor is not None:  # a harness model's other columns are text
            out[name] = as_text(out[name])
    return out


def named_as_model(model, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the model's own name for a column it has without spaces around: a model trained on a
    Parquet file (or a CSV before names were read without spaces) may take ' store' for a table's 'store'."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        return frame
    padded = {c.strip(): c for c in schema.input_names() if c not in frame.columns and c.strip() in frame.columns}
    return frame.rename(columns=padded) if padded else frame


def fitted_preprocessor(model):
    """The fitted ColumnTransformer inside a harness pyfunc model; None for any other model."""
    try:
        preprocessor = model.unwrap_python_model().predictor.preprocessor
    except (AttributeError, MlflowException):  # not a Python model, or not one of ours
        return None
    return preprocessor if hasattr(preprocessor, "transformers_") else None  # images have no columns


def input_problems(model, raw: pd.DataFrame, cast: pd.DataFrame) -> list[InputProblem]:
    """Every value of `raw` (as read) that the model would have to guess about, once `cast` by
    `input_frame`; in the order of the preprocessor's columns."""
    preprocessor = fitted_preprocessor(model)
    if preprocessor is None:
        return []
    problems = []
    for name, pipeline, columns in preprocessor.transformers_:
        if not len(columns) or isinstance(pipeline, str):  # no such columns: nothing was fitted
            continue
        if name == "numeric":
            medians = pipeline.steps[0][1].statistics_
            for column, median in zip(columns, medians):
                problems += _number_problems(column, raw[column], cast[column], median)
        elif name == "categorical":
            imputer, encoder = pipeline.steps[0][1], pipeline.steps[-1][1]
            for column, mode, known in zip(columns, imputer.statistics_, encoder.categories_):
                problems += _category_problems(column, cast[column], mode, known)
    return problems


def _number_problems(column: str, raw: pd.Series, cast: pd.Series, median: float) -> list[InputProblem]:
    fill = f"imputed with the training median {median:g}"
    written = is_placeholder(raw).to_numpy()  # `?`, `unknown`: a missing value as the table wrote it
    text = np.flatnonzero(cast.isna().to_numpy() & raw.notna().to_numpy() & ~written)
    missing = np.flatnonzero(raw.isna().to_numpy() | written)
    problems = []
    if len(text):
        problems.append(InputProblem(column, f"text value(s) in a numeric column (e.g. {raw.iloc[text[0]]!r})",
                                     text, f"read as missing and {fill}"))
    if len(missing):
        problems.append(InputProblem(column, "missing value(s)", missing, fill))
    return problems


def _category_problems(column: str, values: pd.Series, mode, known) -> list[InputProblem]:
    empty = values.isna().to_numpy()
    unseen = ~empty & ~values.isin(list(known)).to_numpy()
    problems = []
    if unseen.any():
        first = values[unseen].iloc[0]
        problems.append(InputProblem(column, f"value(s) not seen in training (e.g. {first!r})", np.flatnonzero(unseen),
                                     "encoded as none of the known categories"))
    if empty.any():
        problems.append(InputProblem(column, "empty cell(s)", np.flatnonzero(empty),
                                     f"filled with the training rows' most frequent value {mode!r}"))
    return problems

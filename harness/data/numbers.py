"""Numbers written as text, as spreadsheets export them: `$1,234.56`, `12%`, `(1,000)`, `€ 99`; and `?`,
`-`, `unknown` or `#DIV/0!` for a missing one.

Read as text they would be one-hot categories (a value each, nothing learned between them). A column whose
every value is a number written so is read as numbers when a table is read (training and `harness
predict` alike), and a model's number column takes such values when it is served, so a row to predict may
come straight from the same spreadsheet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A sign, a currency symbol, digits in groups of three with commas or plain, decimals, a percent sign; or
# an accountant's negative in parentheses. `1,2` (not groups of three) stays text: a code, not a number.
FORMATTED = (r"\s*(?P<open>\()?\s*[+-]?\s*[$€£¥]?\s*[+-]?"
             r"(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)"
             r"\s*(?:%|[$€£¥])?\s*(?(open)\))\s*")
MARKS = r"[$€£¥%(,]"  # what sets a number written as text apart from digits kept as text
# What tables write for a missing number, in any case: UCI's sets write `?`, people `unknown`, and a
# spreadsheet its formula errors (`#DIV/0!`). pandas itself reads only some spellings (NA, N/A, null).
PLACEHOLDERS = frozenset({"?", "-", "--", "\u2014", ".", "n.a.", "n/a.", "n/a", "na", "nan", "none", "null", "nil",
                          "unknown", "missing", "not available", "#n/a", "#na", "#value!", "#div/0!", "#num!",
                          "#ref!", "#name?", "#null!"})
LOOKED_AT = 1000  # values tried first: a column of names fails on its first values, not after a million


def to_numbers(values: pd.Series) -> pd.Series:
    """float64 values: numbers as they are, numbers written as text (`$1,234.56` is 1234.56, `12%` is 12,
    `(5)` is -5) parsed, anything else missing."""
    numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
    text = numbers.isna() & values.notna()
    if text.any():
        written = values[text].astype(str)
        written = written.where(written.str.fullmatch(FORMATTED))  # only a number has its marks stripped
        numbers[text] = _parse(written).to_numpy()  # by position: an index may repeat labels
    return numbers


def is_placeholder(values: pd.Series) -> pd.Series:
    """True where a value is written for a missing number (PLACEHOLDERS, whatever its case and spaces)."""
    if pd.api.types.is_numeric_dtype(values):  # numbers already: nothing written
        return pd.Series(False, index=values.index)
    return values.astype(str).str.strip().str.lower().isin(PLACEHOLDERS) & values.notna()


def _parse(written: pd.Series) -> pd.Series:
    """Numbers from text that matches FORMATTED (missing elsewhere): its marks stripped, parentheses
    turned into a minus."""
    bare = written.str.replace(r"[\s$€£¥,%]", "", regex=True)
    negative = bare.str.startswith("(")
    magnitude = pd.to_numeric(bare.str.strip("()"), errors="coerce").astype(np.float64)
    return magnitude.where(~negative, -magnitude)


def formatted_number_columns(frame: pd.DataFrame) -> list[str]:
    """The text columns whose every value is a number written as text or a placeholder for a missing one
    (`?`, `-`), with a currency symbol, a percent sign, a thousands separator, parentheses or a placeholder
    in some: plain digits kept as text (a Parquet column of zip codes, say) were kept so on purpose."""
    found = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        first = column.head(LOOKED_AT).dropna().astype(str).str.strip()
        if not (first.str.fullmatch(FORMATTED) | is_placeholder(first)).all():
            continue
        values = column.dropna().astype(str).str.strip()
        placeholder = is_placeholder(values)
        numbers = values[~placeholder]
        if not numbers.empty and numbers.str.fullmatch(FORMATTED).all() and (
                placeholder.any() or numbers.str.contains(MARKS).any()):
            found.append(name)
    return found


def read_formatted_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its columns of numbers written as text read as numbers, placeholders as missing."""
    for name in formatted_number_columns(frame):
        frame[name] = to_numbers(frame[name])
    return frame

"""The target column: which task it poses, and how regression targets are encoded for training.

Regression targets are standardized (or log-standardized) for training only; `decode_target` undoes it
inside the packaged model and in every metric, so users only ever see original units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# An integer target with at most this many distinct values is read as class labels.
MAX_INTEGER_CLASSES = 20

TARGET_TRANSFORMS = ("standardize", "log", "none")


def encode_target(values: np.ndarray, transform: str, mean: float, std: float) -> np.ndarray:
    """What the network is trained to output: (y - mean) / std, or (log y - mean) / std for `log`."""
    values = np.log(values) if transform == "log" else values
    return (values - mean) / std


def decode_target(encoded, transform: str, mean: float, std: float):
    """The inverse of encode_target, for torch tensors and numpy arrays alike (the packaged model uses it)."""
    values = encoded * std + mean
    if transform != "log":
        return values
    return values.exp() if hasattr(values, "exp") else np.exp(values)  # torch tensors stay on their device


def fit_target_scale(train: np.ndarray, transform: str) -> tuple[float, float]:
    """Mean and std that standardize the (logged) training targets; (0, 1) leaves them as they are."""
    if transform == "none":
        return 0.0, 1.0
    values = np.log(train) if transform == "log" else train
    return float(values.mean()), float(values.std()) or 1.0


def infer_task(target: pd.Series) -> str:
    """Text, booleans and integers with few distinct values are classes; other numbers are regression.
    Whole numbers read as floats (pandas reads 0/1 as 0.0/1.0 when a row has no target) count as integers."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    if is_whole(target) and target.nunique() <= MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


def is_whole(values: pd.Series) -> bool:
    """Integers, or floats whose every known value is a whole number."""
    if pd.api.types.is_integer_dtype(values):
        return True
    known = values.dropna().to_numpy()
    return (pd.api.types.is_float_dtype(values) and len(known) > 0 and bool(np.isfinite(known).all())
            and bool((known == np.floor(known)).all()))  # an infinite value is the number check's to refuse

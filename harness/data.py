"""From raw rows to tensors on the training device: task, splits, a fitted preprocessor, label coding.

`prepare` runs once per process; every trial of the study reads the same tensors, already on the device.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from harness.config import REGRESSION_LOSSES
from harness.errors import HarnessError
from harness.sources import load_source

SPLITS = ("train", "val", "test")
# An integer target with at most this many distinct values is read as class labels.
MAX_INTEGER_CLASSES = 20


@dataclass
class Prepared:
    """Everything a trial needs about the data, and everything the packaged model needs to undo it."""

    task: str
    target: str
    features: list[str]
    preprocessor: ColumnTransformer
    classes: list | None  # original labels, in the order of the network's outputs
    target_mean: float  # regression targets are (log-)standardized for training: see encode_target
    target_std: float
    X: dict[str, torch.Tensor]  # split -> float32 features on the device
    y: dict[str, torch.Tensor]  # split -> float32 (n, 1) encoded targets, or int64 class indices
    raw: dict[str, pd.DataFrame]  # split -> raw feature rows, as a user would pass them to the model
    labels: dict[str, np.ndarray]  # split -> raw targets, in original units or labels
    digest: str
    device: torch.device
    notes: list[str] = field(default_factory=list)
    target_transform: str = "standardize"  # regression: standardize, log or none

    @property
    def n_features(self) -> int:
        return self.X["train"].shape[1]

    @property
    def n_outputs(self) -> int:
        """Outputs under the default loss (mse, cross-entropy); `outputs_for` when the loss is known."""
        return 1 if self.task == "regression" else len(self.classes)

    def outputs_for(self, loss: str) -> int:
        """Outputs the network needs under `loss` (one logit for bce); a loss unfit for the task raises."""
        return output_width(self.task, len(self.classes) if self.classes else None, loss)

    def to_original(self, encoded: torch.Tensor) -> torch.Tensor:
        """Regression outputs or targets back in the target's original units."""
        return decode_target(encoded, self.target_transform, self.target_mean, self.target_std)


def output_width(task: str, n_classes: int | None, loss: str) -> int:
    """How many outputs the network needs for this task and loss: one for regression and for bce's single
    logit (sigmoid of it is the probability of the second class), one per class for cross-entropy.
    A loss that does not fit the task is a HarnessError."""
    if loss == "auto":
        loss = "mse" if task == "regression" else "cross_entropy"
    if task == "regression":
        if loss not in REGRESSION_LOSSES:
            raise HarnessError(f"train.loss: {loss} is for classification, but the task is regression; "
                               f"use {', '.join(REGRESSION_LOSSES)}")
        return 1
    if loss not in ("cross_entropy", "bce"):
        raise HarnessError(f"train.loss: {loss} is for regression, but the task is classification; "
                           "use cross_entropy or bce (two classes)")
    if loss == "bce":
        if n_classes != 2:
            raise HarnessError(f"train.loss: bce needs exactly two classes, but the target has {n_classes}; "
                               "use cross_entropy")
        return 1
    return n_classes


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
    return torch.exp(values) if isinstance(values, torch.Tensor) else np.exp(values)


def fit_target_scale(train: np.ndarray, transform: str) -> tuple[float, float]:
    """Mean and std that standardize the (logged) training targets; (0, 1) leaves them as they are."""
    if transform == "none":
        return 0.0, 1.0
    values = np.log(train) if transform == "log" else train
    return float(values.mean()), float(values.std()) or 1.0


def infer_task(target: pd.Series) -> str:
    """Text, booleans and integers with few distinct values are classes; other numbers are regression."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    if pd.api.types.is_integer_dtype(target) and target.nunique() <= MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


def build_preprocessor(features: pd.DataFrame) -> ColumnTransformer:
    """Numbers: median-imputed and standardized. Everything else: mode-imputed and one-hot encoded."""
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])
               and not pd.api.types.is_bool_dtype(features[c])]
    categorical = [c for c in features.columns if c not in numeric]
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            ), categorical),
        ],
        sparse_threshold=0.0,
    )


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise HarnessError("train.device: cuda was asked for but no CUDA device is available; use auto or cpu")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def digest_of(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).values.tobytes()).hexdigest()[:16]


def prepare(source: str, target: str | None, task: str, val: float, test: float, seed: int,
            device: str = "auto", target_transform: str = "standardize") -> Prepared:
    """Load, split, fit the preprocessor on the training rows only, and move every split to the device.

    Regression targets are encoded by `target_transform` (standardize, log, none) for training only:
    metrics, the packaged model and its predictions are in the original units."""
    frame, target = load_source(source, target, seed)
    notes = []
    missing = frame[target].isna()
    if missing.all():
        raise HarnessError(f"data.target: column {target!r} has no values")
    if missing.any():
        notes.append(f"dropped {int(missing.sum())} rows with no {target!r}")
        frame = frame.loc[~missing].reset_index(drop=True)
    task = infer_task(frame[target]) if task == "auto" else task
    if task == "regression" and not pd.api.types.is_numeric_dtype(frame[target]):
        raise HarnessError(f"task: regression needs a numeric target, but {target!r} holds text; use task: classification")
    if target_transform not in TARGET_TRANSFORMS:
        raise HarnessError(f"data.target_transform: {target_transform!r} is not one of {', '.join(TARGET_TRANSFORMS)}")
    non_positive = int((frame[target] <= 0).sum()) if task == "regression" else 0
    if target_transform == "log" and non_positive:
        raise HarnessError(f"data.target_transform: log needs targets above 0, but {target!r} has {non_positive} "
                           f"value(s) <= 0 (smallest {frame[target].min():g}); use standardize")
    features = [c for c in frame.columns if c != target]
    raw_features = _as_model_input(frame[features])
    labels = frame[target].to_numpy()

    parts = _split(len(frame), labels if task == "classification" else None, val, test, seed, notes)
    raw = {name: raw_features.iloc[idx].reset_index(drop=True) for name, idx in parts.items()}
    split_labels = {name: labels[idx] for name, idx in parts.items()}

    preprocessor = build_preprocessor(raw["train"]).fit(raw["train"])
    dev = pick_device(device)
    X = {name: torch.as_tensor(preprocessor.transform(raw[name]), dtype=torch.float32, device=dev) for name in SPLITS}

    classes, mean, std = None, 0.0, 1.0
    if task == "classification":
        classes = sorted(pd.unique(labels), key=str)
        if len(classes) < 2:
            raise HarnessError(f"data.target: {target!r} has a single class {classes[0]!r}; nothing to classify")
        index = {label: i for i, label in enumerate(classes)}
        y = {n: torch.as_tensor([index[v] for v in split_labels[n]], dtype=torch.int64, device=dev) for n in SPLITS}
        classes = [c.item() if isinstance(c, np.generic) else c for c in classes]
    else:
        mean, std = fit_target_scale(split_labels["train"].astype(np.float64), target_transform)
        y = {n: torch.as_tensor(encode_target(split_labels[n].astype(np.float64), target_transform, mean, std),
                                dtype=torch.float32, device=dev).reshape(-1, 1) for n in SPLITS}
    return Prepared(task, target, features, preprocessor, classes, mean, std, X, y, raw, split_labels,
                    digest_of(frame), dev, notes, target_transform if task == "regression" else "standardize")


def _as_model_input(features: pd.DataFrame) -> pd.DataFrame:
    """Columns as the packaged model will receive them: numbers stay numbers, anything else becomes text."""
    out = features.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]) or not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].astype(object).where(out[column].notna(), None).map(
                lambda v: v if v is None else str(v))
    return out


def _split(n: int, stratify_by: np.ndarray | None, val: float, test: float, seed: int,
           notes: list[str]) -> dict[str, np.ndarray]:
    """Row indices of train/val/test, stratified by class when it can be, reproducible from the seed."""
    if n < 10:
        raise HarnessError(f"data: only {n} rows; a study needs at least 10 to split into train/val/test")
    index = np.arange(n)
    try:
        rest, test_idx = train_test_split(index, test_size=test, random_state=seed, stratify=stratify_by)
        train_idx, val_idx = train_test_split(rest, test_size=val / (1 - test), random_state=seed,
                                              stratify=None if stratify_by is None else stratify_by[rest])
    except ValueError:
        if stratify_by is None:
            raise
        notes.append("a class has too few rows to stratify; the split is random")
        return _split(n, None, val, test, seed, notes)
    return {"train": train_idx, "val": val_idx, "test": test_idx}

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
    target_mean: float  # regression targets are standardized for training, un-standardized on output
    target_std: float
    X: dict[str, torch.Tensor]  # split -> float32 features on the device
    y: dict[str, torch.Tensor]  # split -> float32 (n, 1) standardized targets, or int64 class indices
    raw: dict[str, pd.DataFrame]  # split -> raw feature rows, as a user would pass them to the model
    labels: dict[str, np.ndarray]  # split -> raw targets, in original units or labels
    digest: str
    device: torch.device
    notes: list[str] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return self.X["train"].shape[1]

    @property
    def n_outputs(self) -> int:
        return 1 if self.task == "regression" else len(self.classes)


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
            device: str = "auto") -> Prepared:
    """Load, split, fit the preprocessor on the training rows only, and move every split to the device."""
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
        train_y = split_labels["train"].astype(np.float64)
        mean, std = float(train_y.mean()), float(train_y.std()) or 1.0
        y = {n: torch.as_tensor((split_labels[n].astype(np.float64) - mean) / std, dtype=torch.float32,
                                device=dev).reshape(-1, 1) for n in SPLITS}
    return Prepared(task, target, features, preprocessor, classes, mean, std, X, y, raw, split_labels,
                    digest_of(frame), dev, notes)


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

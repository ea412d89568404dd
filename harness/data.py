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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from harness.config import REGRESSION_LOSSES
from harness.errors import HarnessError
from harness.images import ImageScaler, is_image_source, load_images
from harness.sources import as_text, load_source

SPLITS = ("train", "val", "test")
# An integer target with at most this many distinct values is read as class labels.
MAX_INTEGER_CLASSES = 20
# A non-numeric column is free text (TF-IDF, not one-hot) when most values are distinct and average this
# many words; TF-IDF keeps the most frequent words and word pairs, which bounds the network's input width.
TEXT_MIN_WORDS, TEXT_MIN_DISTINCT, TFIDF_MAX_FEATURES = 3.0, 0.5, 2000


@dataclass
class Prepared:
    """Everything a trial needs about the data, and everything the packaged model needs to undo it."""

    task: str
    target: str
    features: list[str]
    preprocessor: ColumnTransformer | ImageScaler
    classes: list | None  # original labels, in the order of the network's outputs
    target_mean: float  # regression targets are (log-)standardized for training: see encode_target
    target_std: float
    X: dict[str, torch.Tensor]  # split -> float32 features (n, d), or images (n, C, H, W), on the device
    y: dict[str, torch.Tensor]  # split -> float32 (n, 1) encoded targets, or int64 class indices
    raw: dict[str, pd.DataFrame | np.ndarray]  # split -> raw rows or raw images, as a user passes them to the model
    labels: dict[str, np.ndarray]  # split -> raw targets, in original units or labels
    digest: str
    device: torch.device
    notes: list[str] = field(default_factory=list)
    target_transform: str = "standardize"  # regression: standardize, log or none

    @property
    def n_features(self) -> int:
        """Inputs of a flat network: columns after encoding, or pixels times channels."""
        return int(np.prod(self.X["train"].shape[1:]))

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) for images, None for tables."""
        return tuple(self.X["train"].shape[1:]) if self.X["train"].ndim == 4 else None

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


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def detect_text_columns(features: pd.DataFrame) -> list[str]:
    """Free text: non-numeric columns whose values are mostly distinct and several words long."""
    found = []
    for name in features.columns:
        values = features[name].dropna()
        if _is_number(features[name]) or values.empty:
            continue
        values = values.astype(str)
        distinct = values.nunique() >= TEXT_MIN_DISTINCT * len(values)
        if distinct and values.str.split().str.len().mean() >= TEXT_MIN_WORDS:
            found.append(name)
    return found


def text_values(column) -> list[str]:
    """One string per row for TF-IDF; missing text is the empty string."""
    return ["" if pd.isna(v) else str(v) for v in np.asarray(column, dtype=object).ravel()]


def build_preprocessor(features: pd.DataFrame, text: list[str] | None = None) -> ColumnTransformer:
    """Numbers: median-imputed and standardized. Text columns (`text`, default: detected): TF-IDF of words
    and word pairs. Everything else: mode-imputed and one-hot encoded. The output is always dense."""
    text = detect_text_columns(features) if text is None else list(text)
    numeric = [c for c in features.columns if _is_number(features[c]) and c not in text]
    categorical = [c for c in features.columns if c not in numeric and c not in text]
    vectorizers = [(f"text:{c}", make_pipeline(
        FunctionTransformer(text_values, feature_names_out="one-to-one"),
        TfidfVectorizer(max_features=TFIDF_MAX_FEATURES, ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32),
    ), c) for c in text]  # a column name, not a list: the vectorizer takes one string per row
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            ), categorical),
            *vectorizers,
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
            device: str = "auto", target_transform: str = "standardize", kind: str = "auto",
            text: list[str] | None = None) -> Prepared:
    """Load, split, fit the preprocessor on the training rows only, and move every split to the device.

    Regression targets are encoded by `target_transform` (standardize, log, none) for training only:
    metrics, the packaged model and its predictions are in the original units."""
    if kind == "images" or kind == "auto" and is_image_source(source):
        if text:
            raise HarnessError(f"data.text: {source} holds images, which have no text columns; remove data.text")
        return prepare_images(source, target, task, val, test, seed, device)
    if kind == "table" and is_image_source(source):
        raise HarnessError(f"data.kind: {source} holds images, not a table; use data.kind: images (or auto)")
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

    preprocessor = build_preprocessor(raw["train"], _check_text(text, raw_features)).fit(raw["train"])
    dev = pick_device(device)
    X = {name: torch.as_tensor(preprocessor.transform(raw[name]), dtype=torch.float32, device=dev) for name in SPLITS}

    classes, mean, std = None, 0.0, 1.0
    if task == "classification":
        classes, y = _class_targets(labels, split_labels, target, dev)
    else:
        mean, std = fit_target_scale(split_labels["train"].astype(np.float64), target_transform)
        y = {n: torch.as_tensor(encode_target(split_labels[n].astype(np.float64), target_transform, mean, std),
                                dtype=torch.float32, device=dev).reshape(-1, 1) for n in SPLITS}
    return Prepared(task, target, features, preprocessor, classes, mean, std, X, y, raw, split_labels,
                    digest_of(frame), dev, notes, target_transform if task == "regression" else "standardize")


def _class_targets(labels: np.ndarray, split_labels: dict[str, np.ndarray], target: str,
                   dev: torch.device) -> tuple[list, dict[str, torch.Tensor]]:
    """Classes in a stable order and each split's labels as int64 class indices on the device."""
    classes = sorted(pd.unique(labels), key=str)
    if len(classes) < 2:
        raise HarnessError(f"data.target: {target!r} has a single class {classes[0]!r}; nothing to classify")
    index = {label: i for i, label in enumerate(classes)}
    y = {n: torch.as_tensor([index[v] for v in split_labels[n]], dtype=torch.int64, device=dev) for n in SPLITS}
    return [c.item() if isinstance(c, np.generic) else c for c in classes], y


def prepare_images(source: str, target: str | None, task: str, val: float, test: float, seed: int,
                   device: str = "auto") -> Prepared:
    """Images to (N, C, H, W) tensors: pixels scaled and standardized with the training images' statistics."""
    if task == "regression":
        raise HarnessError("task: images are for classification here; use task: classification (or auto)")
    images, labels, target = load_images(source, target)
    notes: list[str] = []
    parts = _split(len(images), labels, val, test, seed, notes)
    raw = {name: images[idx] for name, idx in parts.items()}
    split_labels = {name: labels[idx] for name, idx in parts.items()}
    scaler = ImageScaler().fit(raw["train"])
    dev = pick_device(device)
    X = {name: torch.as_tensor(scaler.transform(raw[name]), device=dev) for name in SPLITS}
    classes, y = _class_targets(labels, split_labels, target, dev)
    digest = hashlib.sha256(np.ascontiguousarray(images).tobytes() + labels.astype(str).tobytes()).hexdigest()[:16]
    return Prepared("classification", target, [], scaler, classes, 0.0, 1.0, X, y, raw, split_labels, digest, dev,
                    notes)


def _check_text(text: list[str] | None, features: pd.DataFrame) -> list[str] | None:
    for name in text or ():
        if name not in features.columns:
            raise HarnessError(f"data.text: column {name!r} is not among the features; they are: "
                               + ", ".join(map(str, features.columns)))
        if _is_number(features[name]):
            raise HarnessError(f"data.text: column {name!r} holds numbers, not text; remove it from data.text")
    return text


def _as_model_input(features: pd.DataFrame) -> pd.DataFrame:
    """Columns as the packaged model will receive them: numbers stay numbers, anything else becomes text."""
    out = features.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]) or not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = as_text(out[column])
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

"""From raw rows to tensors on the training device: task, splits, a fitted preprocessor, label coding.

`prepare` runs once per process; every trial of the study reads the same tensors, already on the device.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split

from harness.data.columns import (
    as_model_input,
    build_preprocessor,
    detect_text_columns,
    is_number,
    numeric_width,
)
from harness.data.images import ImageScaler, is_image_source, load_images
from harness.data.sources import load_source
from harness.data.target import (
    TARGET_TRANSFORMS,
    decode_target,
    encode_target,
    fit_target_scale,
    infer_task,
)
from harness.errors import HarnessError

SPLITS = ("train", "val", "test")


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
    numeric: str = "standard"  # how numeric columns are scaled (data/scaling.py); tables only
    text: list[str] | None = None  # the text columns, fixed once so every refit encodes the same columns
    _variants: dict = field(default_factory=dict, repr=False, compare=False)  # numeric scaling -> Prepared

    @property
    def n_numeric(self) -> int:
        """How many leading feature columns are numeric (what numeric embeddings read); 0 for images."""
        return numeric_width(self.preprocessor) if isinstance(self.preprocessor, ColumnTransformer) else 0

    @property
    def output_range(self) -> tuple[float, float] | None:
        """Regression: the training targets' smallest and largest value, encoded as the network outputs
        them. A prediction outside them is an extrapolation no training row supports; None otherwise."""
        if self.task != "regression":
            return None
        train = self.labels["train"].astype(np.float64)
        low, high = encode_target(np.array([train.min(), train.max()]), self.target_transform,
                                  self.target_mean, self.target_std)
        return float(low), float(high)

    def variant(self, numeric: str) -> Prepared:
        """The same rows and splits with numeric columns scaled another way (fitted on the training rows,
        built once per process), so a trial can search the scaling without a study-wide refit."""
        if numeric == self.numeric or self.input_shape is not None:
            return self
        built = self._variants.setdefault(self.numeric, self)._variants  # one cache shared by every variant
        if numeric not in built:
            built[numeric] = replace(encode_table(self, self.raw, self.labels, numeric), _variants=built)
        return built[numeric]

    @property
    def n_features(self) -> int:
        """Inputs of a flat network: columns after encoding, or pixels times channels."""
        return int(np.prod(self.X["train"].shape[1:]))

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) for images, None for tables."""
        return tuple(self.X["train"].shape[1:]) if self.X["train"].ndim == 4 else None

    @property
    def n_classes(self) -> int | None:
        """Classes of a classification target; None for regression."""
        return len(self.classes) if self.classes else None

    def to_original(self, encoded: torch.Tensor) -> torch.Tensor:
        """Regression outputs or targets back in the target's original units."""
        return decode_target(encoded, self.target_transform, self.target_mean, self.target_std)


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
            text: list[str] | None = None, numeric: str = "standard") -> Prepared:
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
    raw_features = as_model_input(frame[features])
    labels = frame[target].to_numpy()

    parts = _split(len(frame), labels if task == "classification" else None, val, test, seed, notes)
    raw = {name: raw_features.iloc[idx].reset_index(drop=True) for name, idx in parts.items()}
    split_labels = {name: labels[idx] for name, idx in parts.items()}
    text = _check_text(text, raw_features)
    text = detect_text_columns(raw["train"]) if text is None else text
    classes = _classes(labels, target) if task == "classification" else None
    template = Prepared(task, target, features, None, classes, 0.0, 1.0, {}, {}, {}, {}, digest_of(frame),
                        pick_device(device), notes, target_transform if task == "regression" else "standardize",
                        text=text)
    return encode_table(template, raw, split_labels, numeric)


def encode_table(like: Prepared, raw: dict[str, pd.DataFrame], labels: dict[str, np.ndarray],
                 numeric: str) -> Prepared:
    """A Prepared for these rows, split as given, like `like` in every other respect (task, classes, text
    columns, target transform, device): the preprocessor and the target's scale are fitted on raw['train']."""
    preprocessor = build_preprocessor(raw["train"], like.text, numeric).fit(raw["train"])
    dev = like.device
    X = {name: torch.as_tensor(preprocessor.transform(part), dtype=torch.float32, device=dev)
         for name, part in raw.items()}
    mean, std = 0.0, 1.0
    if like.task == "classification":
        index = {label: i for i, label in enumerate(like.classes)}
        y = {n: torch.as_tensor([index[v] for v in part], dtype=torch.int64, device=dev) for n, part in labels.items()}
    else:
        mean, std = fit_target_scale(labels["train"].astype(np.float64), like.target_transform)
        y = {n: torch.as_tensor(encode_target(part.astype(np.float64), like.target_transform, mean, std),
                                dtype=torch.float32, device=dev).reshape(-1, 1) for n, part in labels.items()}
    return replace(like, preprocessor=preprocessor, target_mean=mean, target_std=std, X=X, y=y, raw=raw,
                   labels=labels, numeric=numeric, _variants={})


def _classes(labels: np.ndarray, target: str) -> list:
    """Classes in a stable order: the order of the network's outputs."""
    classes = sorted(pd.unique(labels), key=str)
    if len(classes) < 2:
        raise HarnessError(f"data.target: {target!r} has a single class {classes[0]!r}; nothing to classify")
    return [c.item() if isinstance(c, np.generic) else c for c in classes]


def _class_targets(labels: np.ndarray, split_labels: dict[str, np.ndarray], target: str,
                   dev: torch.device) -> tuple[list, dict[str, torch.Tensor]]:
    """Classes in a stable order and each split's labels as int64 class indices on the device."""
    classes = _classes(labels, target)
    index = {label: i for i, label in enumerate(classes)}
    y = {n: torch.as_tensor([index[v] for v in split_labels[n]], dtype=torch.int64, device=dev) for n in SPLITS}
    return classes, y


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
        if is_number(features[name]):
            raise HarnessError(f"data.text: column {name!r} holds numbers, not text; remove it from data.text")
    return text


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

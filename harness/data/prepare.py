"""From raw rows to tensors on the training device: task, splits, a fitted preprocessor, label coding.

`prepare` runs once per process; every trial of the study reads the same tensors, already on the device.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split

from harness.data.columns import (
    as_model_input,
    build_preprocessor,
    detect_date_columns,
    detect_text_columns,
    is_number,
    numeric_width,
)
from harness.data.groups import group_hints, group_labels, group_split
from harness.data.images import ImageScaler, check_image_folder, is_image_source, load_images
from harness.data.profile import near_copies, nested, repeated_rows, treatments
from harness.data.sources import WINDOWS, columns_shown, load_source, release_arrow_memory
from harness.data.target import (
    TARGET_TRANSFORMS,
    decode_target,
    encode_target,
    fit_target_scale,
    infer_task,
    is_whole,
)
from harness.data.values import (
    MIN_CLASS_ROWS,
    beyond_float32,
    check_class_sizes,
    check_classes_trainable,
    check_encoded,
    check_numbers,
    check_regression_target,
    check_row_count,
    rare_classes,
)
from harness.errors import HarnessError

SPLITS = ("train", "val", "test")
# encode_rows: rows per block, so that a block's float64 output is about this size (its steps make a few
# copies of it), but never fewer rows than this (each call has a fixed cost).
ENCODE_BYTES, ENCODE_MIN_ROWS = 8 * 2**20, 1024


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
    columns: list[tuple[str, str, str]] = field(default_factory=list)  # (column, treatment, detail), tables
    numeric: str = "standard"  # how numeric columns are scaled (data/scaling.py); tables only
    text: list[str] | None = None  # the text columns, fixed once so every refit encodes the same columns
    dates: list[str] | None = None  # the date columns, fixed once likewise
    groups: dict[str, np.ndarray] | None = None  # data.split.group: split -> each row's group, for the folds
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
            text: list[str] | None = None, drop: list[str] | dict[str, str] | None = None,
            numeric: str = "standard", group: str | None = None) -> Prepared:
    """Load, split, fit the preprocessor on the training rows only, and move every split to the device.

    Regression targets are encoded by `target_transform` (standardize, log, none) for training only:
    metrics, the packaged model and its predictions are in the original units."""
    if kind == "images" or kind == "auto" and is_image_source(source):
        if text:
            raise HarnessError(f"data.text: {source} holds images, which have no text columns; remove data.text")
        if drop:
            raise HarnessError(f"data.drop: {source} holds images, which have no columns; remove data.drop")
        return prepare_images(source, target, task, val, test, seed, device)
    if kind == "table" and is_image_source(source):
        raise HarnessError(f"data.kind: {source} holds images, not a table; use data.kind: images (or auto)")
    frame, target = load_source(source, target, seed)
    notes = [f"read {Path(source).name} as Windows-1252 text (its bytes are not UTF-8)"] \
        if frame.attrs.get("encoding") == WINDOWS else []
    frame, dropped = _drop_columns(frame, target, drop or [], source)
    _check_no_nested_columns(frame, target, source)
    if group is not None:
        _check_group_column(frame, group, target, source)
        dropped[group] = "groups the split (data.split.group): each value's rows in one split"
    features = [c for c in frame.columns if c not in (target, group)]
    check_numbers(frame, features, "data.source")  # before any row is dropped, so row numbers match the file
    missing = frame[target].isna()
    if missing.all():
        raise HarnessError(f"data.target: column {target!r} has no values")
    if missing.any():
        notes.append(f"dropped {int(missing.sum())} rows with no {target!r}")
        frame = frame.loc[~missing].reset_index(drop=True)
    check_row_count(len(frame))
    if group is None:  # with groups, a repeated row stays with its group's rows
        notes += repeated_rows(frame)
    if features and frame[features].isna().all().all():
        shown = ", ".join(map(repr, features[:5])) + (", ..." if len(features) > 5 else "")
        raise HarnessError(f"data.source: every column besides the target {target!r} is empty in the rows that "
                           f"have a target ({shown}); the network needs at least one feature with values")
    task = infer_task(frame[target]) if task == "auto" else task
    if task == "classification" and pd.api.types.is_float_dtype(frame[target]) and is_whole(frame[target]):
        frame[target] = frame[target].astype(np.int64)  # classes 0 and 1, as written, not 0.0 and 1.0
    if task == "regression" and not pd.api.types.is_numeric_dtype(frame[target]):
        raise HarnessError(f"task: regression needs a numeric target, but {target!r} holds text; use task: classification")
    if task == "regression":
        check_numbers(frame, [target], "data.target")
        check_regression_target(frame[target], target)
    if target_transform not in TARGET_TRANSFORMS:
        raise HarnessError(f"data.target_transform: {target_transform!r} is not one of {', '.join(TARGET_TRANSFORMS)}")
    non_positive = int((frame[target] <= 0).sum()) if task == "regression" else 0
    if target_transform == "log" and non_positive:
        raise HarnessError(f"data.target_transform: log needs targets above 0, but {target!r} has {non_positive} "
                           f"value(s) <= 0 (smallest {frame[target].min():g}); use standardize")
    notes += near_copies(frame, target, task)
    if group is None:
        notes += group_hints(frame, features)
    groups = group_labels(frame, group) if group is not None else None
    raw_features = as_model_input(frame[features])
    labels = frame[target].to_numpy().copy()  # not a view that would keep the whole table alive

    if task == "classification":
        check_class_sizes(labels, target)
    if groups is not None:
        parts = group_split(groups, val, test, seed, notes)
    else:
        parts = _split(len(frame), labels if task == "classification" else None, val, test, seed, notes)
    raw = {name: raw_features.iloc[idx].reset_index(drop=True) for name, idx in parts.items()}
    split_labels = {name: labels[idx] for name, idx in parts.items()}
    if task == "classification":
        check_classes_trainable(labels, split_labels, target)
    digest = digest_of(frame)
    del frame, raw_features  # the splits hold every row now: free the whole table before the preprocessing
    release_arrow_memory()  # a table read from Parquet lived in Arrow's memory

    # Text and date columns are decided once, on the training rows: a refit (another numeric scaling, a
    # cross-validation fold) must encode the same columns the same way.
    dates = detect_date_columns(raw["train"])
    text = _check_text(text, raw["train"])
    text = [c for c in (detect_text_columns(raw["train"]) if text is None else text) if c not in dates]
    classes = _classes(labels, target) if task == "classification" else None
    template = Prepared(task, target, features, None, classes, 0.0, 1.0, {}, {}, {}, {}, digest, pick_device(device),
                        notes, target_transform if task == "regression" else "standardize", text=text, dates=dates,
                        groups=None if groups is None else {name: groups[idx] for name, idx in parts.items()})
    prepared = encode_table(template, raw, split_labels, numeric)
    prepared.columns = treatments(prepared.preprocessor, dropped)
    return prepared


def encode_table(like: Prepared, raw: dict[str, pd.DataFrame], labels: dict[str, np.ndarray],
                 numeric: str) -> Prepared:
    """A Prepared for these rows, split as given, like `like` in every other respect (task, classes, text
    and date columns, target transform, device): the preprocessor and the target's scale are fitted on
    raw['train']."""
    preprocessor = build_preprocessor(raw["train"], like.text, like.dates, numeric).fit(raw["train"])
    dev = like.device
    X = {name: encode_rows(preprocessor, part, name, dev) for name, part in raw.items()}
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


def encode_rows(preprocessor: ColumnTransformer, rows: pd.DataFrame, split: str, dev: torch.device) -> torch.Tensor:
    """Raw rows as the network's float32 inputs on the device, encoded a block of rows at a time: the
    preprocessor's float64 output (and its steps' copies) never exist for all rows at once. Every step
    treats each row on its own, so the blocks give exactly what one call on all rows gives."""
    names = preprocessor.get_feature_names_out()
    out = torch.empty((len(rows), len(names)), dtype=torch.float32, device=dev)
    bad = np.zeros(len(names), dtype=np.int64)
    step = max(ENCODE_MIN_ROWS, ENCODE_BYTES // (8 * max(1, len(names))))
    for start in range(0, len(rows), step):
        values = preprocessor.transform(rows.iloc[start:start + step])
        bad += beyond_float32(values)
        out[start:start + len(values)] = torch.from_numpy(values)  # float64 to float32, as torch.as_tensor would
    check_encoded(bad, names, split)
    return out


def _drop_columns(frame: pd.DataFrame, target: str, drop: list[str] | dict[str, str],
                  source: str) -> tuple[pd.DataFrame, dict]:
    """The table without the columns `data.drop` names; returns it and {column: why} for the report."""
    reasons = dict(drop) if isinstance(drop, dict) else {c: "named in data.drop" for c in drop}
    drop = list(reasons)
    unknown = [c for c in drop if c not in frame.columns]
    if unknown:
        raise HarnessError(f"data.drop: column {unknown[0]!r} is not in {source}; its columns are: "
                           f"{columns_shown(frame)}")
    if target in drop:
        raise HarnessError(f"data.drop: {target!r} is the target; it cannot be dropped")
    if len(drop) >= frame.shape[1] - 1:
        raise HarnessError(f"data.drop: dropping {', '.join(drop)} leaves no feature column besides the target")
    return frame.drop(columns=drop), reasons


def _check_no_nested_columns(frame: pd.DataFrame, target: str, source: str) -> None:
    """No feature holds lists or mappings (a Parquet list or struct column), which nothing can encode."""
    unreadable = nested(frame.drop(columns=[target]))
    if unreadable:
        name, why = next(iter(unreadable.items()))
        raise HarnessError(f"data.source: column {name!r} of {source} holds {why}; flatten it into columns of "
                           f"numbers or text, or leave it out with data.drop: [{', '.join(unreadable)}]")


def _check_group_column(frame: pd.DataFrame, group: str, target: str, source: str) -> None:
    """data.split.group names a column of the table other than the target."""
    if group not in frame.columns:
        raise HarnessError(f"data.split.group: column {group!r} is not in {source}; its columns are: "
                           f"{columns_shown(frame)}")
    if group == target:
        raise HarnessError(f"data.split.group: {group!r} is the target; name the column whose rows belong together")


def _class_targets(labels: np.ndarray, split_labels: dict[str, np.ndarray], target: str,
                   dev: torch.device) -> tuple[list, dict[str, torch.Tensor]]:
    """Classes in a stable order and each split's labels as int64 class indices on the device."""
    classes = _classes(labels, target)
    index = {label: i for i, label in enumerate(classes)}
    y = {n: torch.as_tensor([index[v] for v in split_labels[n]], dtype=torch.int64, device=dev) for n in SPLITS}
    return classes, y


def _classes(labels: np.ndarray, target: str) -> list:
    """Classes in a stable order: the order of the network's outputs."""
    classes = sorted(pd.unique(labels), key=str)
    if len(classes) < 2:
        raise HarnessError(f"data.target: {target!r} has a single class {classes[0]!r}; nothing to classify")
    return [c.item() if isinstance(c, np.generic) else c for c in classes]


def prepare_images(source: str, target: str | None, task: str, val: float, test: float, seed: int,
                   device: str = "auto") -> Prepared:
    """Images to (N, C, H, W) tensors: pixels scaled and standardized with the training images' statistics."""
    if Path(source).is_dir():
        check_image_folder(Path(source))
    if task == "regression":
        raise HarnessError("task: images are for classification here; use task: classification (or auto)")
    images, labels, target = load_images(source, target)
    notes: list[str] = []
    check_class_sizes(labels, target)
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
    """Row indices of train/val/test, stratified by class when it can be, reproducible from the seed.

    Rows of a class too rare to appear in every split go to training only: a class with no training rows
    could never be learned, and the reference models refuse labels they were not fitted on."""
    check_row_count(n)
    index, train_only = np.arange(n), np.arange(0)
    if stratify_by is not None:
        rare = rare_classes(stratify_by)
        if rare:
            in_rare = pd.Series(stratify_by).isin(rare).to_numpy()
            index, train_only = index[~in_rare], index[in_rare]
            notes.append(f"{len(rare)} class(es) with fewer than {MIN_CLASS_ROWS} rows are in the training split "
                         f"only: {', '.join(map(repr, rare[:5]))}{', ...' if len(rare) > 5 else ''}")
    parts = _shuffle_split(index, stratify_by, val, test, seed, notes)
    parts["train"] = np.concatenate([parts["train"], train_only])
    return parts


def _shuffle_split(index: np.ndarray, stratify_by: np.ndarray | None, val: float, test: float, seed: int,
                   notes: list[str]) -> dict[str, np.ndarray]:
    strata = None if stratify_by is None else stratify_by[index]
    try:
        rest, test_idx = train_test_split(index, test_size=test, random_state=seed, stratify=strata)
        train_idx, val_idx = train_test_split(rest, test_size=val / (1 - test), random_state=seed,
                                              stratify=None if stratify_by is None else stratify_by[rest])
    except ValueError:
        if stratify_by is None:
            raise
        notes.append("a class has too few rows to stratify; the split is random")
        return _shuffle_split(index, None, val, test, seed, notes)
    return {"train": train_idx, "val": val_idx, "test": test_idx}

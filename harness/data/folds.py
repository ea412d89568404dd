"""K-fold cross-validation over the training and validation rows together; the test split stays untouched.

On a small table one validation split is a noisy referee: the trial best on it is often not best on new
rows. Scoring each trial on k folds instead gives every training and validation row one out-of-fold
prediction, and the trial's score is the metric of all of them together. Each fold is a `Prepared` of
its own (preprocessor and target scale fitted on the fold's training rows only), so the one training
loop runs on it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

from harness.data.prepare import Prepared, encode_table
from harness.errors import HarnessError


@dataclass
class Fold:
    """One fold: its data (train = the other folds, val = this fold, test = the study's test split) and
    where its validation rows sit among the pooled rows (`pooled_labels` order)."""

    data: Prepared
    rows: np.ndarray


def pooled_raw(data: Prepared) -> pd.DataFrame:
    """The training rows then the validation rows: the rows cross-validation predicts, in this order."""
    return pd.concat([data.raw["train"], data.raw["val"]], ignore_index=True)


def pooled_labels(data: Prepared) -> np.ndarray:
    """The raw targets of `pooled_raw`, in its order."""
    return np.concatenate([data.labels["train"], data.labels["val"]])


def make_folds(data: Prepared, k: int, seed: int) -> list[Fold]:
    """k folds of train+val, reproducible from `seed`: each group's rows in one fold (data.split.group),
    or else stratified by class for classification."""
    if data.input_shape is not None:
        raise HarnessError("study.folds: cross-validation is for tables; use study.folds: 1 for images")
    raw, labels = pooled_raw(data), pooled_labels(data)
    if k < 2 or k > len(raw):
        raise HarnessError(f"study.folds: {k} folds of {len(raw)} training and validation rows; use 2 to {len(raw)}")
    splitter, stratify, groups = KFold(k, shuffle=True, random_state=seed), None, None
    if data.groups is not None:  # data.split.group: each group's rows in one fold
        groups = np.concatenate([data.groups["train"], data.groups["val"]])
        if len(set(groups)) < k:
            raise HarnessError(f"study.folds: {k} folds of {len(set(groups))} groups (data.split.group); use 2 to "
                               f"{len(set(groups))} folds")
        splitter = GroupKFold(k, shuffle=True, random_state=seed)
    elif data.task == "classification":
        smallest = pd.Series(labels).value_counts().min()
        if smallest >= k:  # else a class cannot appear in every fold: plain folds, as the split does then
            splitter, stratify = StratifiedKFold(k, shuffle=True, random_state=seed), labels.astype(str)
    folds = []
    for train_rows, val_rows in splitter.split(raw, stratify, groups):
        parts = {"train": raw.iloc[train_rows].reset_index(drop=True),
                 "val": raw.iloc[val_rows].reset_index(drop=True), "test": data.raw["test"]}
        part_labels = {"train": labels[train_rows], "val": labels[val_rows], "test": data.labels["test"]}
        folds.append(Fold(encode_table(data, parts, part_labels, data.numeric), val_rows))
    return folds

"""Which rows a run saw: the three splits as MLflow dataset inputs (name, digest, source, row counts).

Built once per study and logged to the parent run and to every trial run, so the MLflow UI shows on each
run the data's source, each split's digest and size (the dataset profile's num_rows) and its context
(training, validation, testing).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import mlflow.data
import numpy as np
import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.entities import Dataset, DatasetInput, InputTag

from harness.data.prepare import SPLITS

CONTEXTS = {"train": "training", "val": "validation", "test": "testing"}


def _source(source: str):
    """A file's path (MLflow resolves it as a local source); bundled or synthetic sets are made by code,
    which MLflow records as a code source tagged with the harness's name for them."""
    if Path(source).exists():
        return str(Path(source).resolve())
    return CodeDatasetSource({"harness.source": source})


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame):
            h.update(pd.util.hash_pandas_object(part, index=False).values.tobytes())
        else:
            h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()[:16]


def dataset_inputs(source: str, target: str, raw: dict, labels: dict) -> list[DatasetInput]:
    """One dataset input per split: raw feature rows (a DataFrame, or arrays for images) with their target."""
    with warnings.catch_warnings():
        # Two harmless notes from MLflow: the local-file source type is registered twice, and a hint that
        # integer columns cannot hold missing values (advice for model signatures, not for this record).
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways.*")
        warnings.filterwarnings("ignore", message=".*Integer columns.*")
        return [_dataset_input(source, target, split, raw[split], np.asarray(labels[split])) for split in SPLITS]


def _dataset_input(source: str, target: str, split: str, features, y: np.ndarray) -> DatasetInput:
    name = f"{Path(source).stem if Path(source).exists() else source.replace(':', '-')}-{split}"
    digest = _digest(features, y.astype(str) if y.dtype == object else y)
    if isinstance(features, pd.DataFrame):
        # concat, not assign: inserting a column into a frame of many blocks (a wide table) warns
        table = pd.concat([features, pd.Series(y, index=features.index, name=target)], axis=1)
        dataset = mlflow.data.from_pandas(table, source=_source(source), targets=target, name=name, digest=digest)
    else:
        dataset = mlflow.data.from_numpy(np.asarray(features), source=_source(source), targets=y, name=name,
                                         digest=digest)
    # MlflowClient.log_inputs takes entities: the dataset's public dict has every field of one.
    record = dataset.to_dict()
    entity = Dataset(record["name"], record["digest"], record["source_type"], record["source"],
                     record.get("schema"), record.get("profile"))
    return DatasetInput(entity, tags=[InputTag("mlflow.data.context", CONTEXTS[split])])

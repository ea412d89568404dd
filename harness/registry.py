"""The model registry: load by URI, predict on raw files, register a study's winner and move the alias
only when the newcomer beats the current holder on the same test rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from harness.errors import HarnessError
from harness.sources import as_text


def load_model(uri: str):
    """The pyfunc behind a `models:/NAME@alias`, `models:/NAME/VERSION` or `runs:/ID/model` URI."""
    try:
        return mlflow.pyfunc.load_model(uri)
    except MlflowException as err:
        raise HarnessError(f"cannot load model {uri!r} from {mlflow.get_tracking_uri()}: {err.message.splitlines()[0]}"
                           " (list registered models with `mlflow ui`, or check --tracking-uri)") from None
    except OSError as err:
        raise HarnessError(f"cannot load model {uri!r}: {err}") from None


def input_frame(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns from a raw table (extra columns such as the target are dropped),
    cast to the types of the model's signature so that integer-looking files are accepted."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        return frame
    columns = schema.input_names()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise HarnessError(f"the input has no column(s) {', '.join(missing)}; the model needs: {', '.join(columns)}")
    out = frame[columns].copy()
    for col_spec in schema.inputs:
        kind = str(col_spec.type)
        if kind in ("double", "float"):
            out[col_spec.name] = pd.to_numeric(out[col_spec.name], errors="coerce").astype("float64")
        elif kind in ("long", "integer") and out[col_spec.name].isna().any():
            raise HarnessError(f"column {col_spec.name!r} has missing values, but the model takes whole numbers there")
        elif kind == "string":
            out[col_spec.name] = as_text(out[col_spec.name])
    return out


def image_input(model) -> tuple[tuple[int, ...], np.dtype] | None:
    """The raw image layout ((H, W) or (C, H, W)) and dtype a model of images takes; None for tables."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.is_tensor_spec():
        return None
    spec = schema.inputs[0]
    return tuple(spec.shape[1:]), spec.type


def input_array(model, images: np.ndarray) -> np.ndarray:
    """Raw images in the layout and dtype of the model's signature: a channel axis of 1 added or dropped
    as the model takes it, pixel values cast (MLflow checks the dtype exactly)."""
    layout, dtype = image_input(model)
    images = np.asarray(images)
    if images.ndim == len(layout) + 2 and images.shape[1] == 1:
        images = images[:, 0]  # (N, 1, H, W) for a model of (N, H, W)
    elif images.ndim == len(layout) and len(layout) == 3 and layout[0] == 1:
        images = images[:, None]  # (N, H, W) for a model of (N, 1, H, W)
    if images.shape[1:] != layout:
        raise HarnessError(f"images of shape {images.shape[1:]} per image, but the model takes {layout} "
                           "(resize them, or give a folder of image files, which are resized)")
    return images.astype(dtype, copy=False)


def predict(uri: str, inputs: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    """Predictions for a raw table, or for raw images (a numpy array) with a model of images."""
    return _predict(load_model(uri), uri, inputs)


def _predict(model, uri: str, inputs: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if image_input(model) is not None:
        if not isinstance(inputs, np.ndarray):
            raise HarnessError(f"{uri} is a model of images; give it images (an array, an .npz file or a folder "
                               "of image files), not a table")
        result = model.predict(input_array(model, inputs))
    elif isinstance(inputs, np.ndarray):
        raise HarnessError(f"{uri} is a model of tables; give it a CSV or Parquet table, not images")
    else:
        result = model.predict(input_frame(model, inputs))
    return result if isinstance(result, pd.DataFrame) else pd.DataFrame({"prediction": result})


def predict_file(uri: str, path: Path) -> pd.DataFrame:
    """Predictions for a file as `harness predict` reads it: a CSV/Parquet table, an .npz (array `images`),
    or a folder of image files (sorted by name, resized to the model's size; a `file` column comes first)."""
    from harness.images import read_image_files, read_npz
    from harness.sources import read_table

    path = Path(path)
    if path.is_dir():
        model = load_model(uri)
        layout = image_input(model)
        if layout is None:
            raise HarnessError(f"{path} is a folder of images, but {uri} is a model of tables; give a CSV or "
                               "Parquet file")
        (*channels, height, width), _ = layout
        names, images = read_image_files(path, height, width, channels[0] if channels else 1)
        result = _predict(model, uri, images)
        result.insert(0, "file", names)
        return result
    inputs = read_npz(path, labels_key=None)[0] if path.suffix.lower() == ".npz" else read_table(path)
    return _predict(load_model(uri), uri, inputs)


@dataclass
class Decision:
    promoted: bool
    version: str | None
    message: str


def _alias_holder(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None  # no such model or no such alias yet


def promote(name: str, alias: str, model_uri: str, run_id: str, score: float, metric: str, minimize: bool,
            score_holder: Callable[[str], float], tags: dict[str, str]) -> Decision:
    """Register the study's winner as a new version; give it the alias only if it beats the holder.

    `score_holder(uri)` scores the current alias holder on the same test rows as `score`, so the two
    numbers are comparable even when the holder came from another study.
    """
    client = MlflowClient()
    holder = _alias_holder(client, name, alias)
    if holder is not None and holder.run_id == run_id:
        return Decision(False, holder.version, f"{name}@{alias} is already this trial (version {holder.version})")
    holder_score = None
    if holder is not None:
        try:
            holder_score = score_holder(f"models:/{name}/{holder.version}")
        except Exception as err:  # the holder may take other columns; then the newcomer cannot be compared
            return _register(client, name, model_uri, run_id, tags, alias=None,
                             message=f"{alias} stays version {holder.version}: it cannot score this study's test rows ({err})")
    beats = holder_score is None or (score < holder_score if minimize else score > holder_score)
    if beats:
        against = "no previous champion" if holder is None else f"{metric} {score:.4g} beats {holder_score:.4g} of version {holder.version}"
        return _register(client, name, model_uri, run_id, tags, alias=alias, message=f"promoted to @{alias} ({against})")
    return _register(client, name, model_uri, run_id, tags, alias=None,
                     message=f"the champion stays version {holder.version}: its {metric} {holder_score:.4g} "
                             f"is at least as good as {score:.4g}")


def _register(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict, alias: str | None,
              message: str) -> Decision:
    version = mlflow.register_model(model_uri, name, tags=tags).version
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return Decision(alias is not None, str(version), f"registered {name} version {version}; {message}")

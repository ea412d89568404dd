"""Models by URI, as a user meets them: load `models:/NAME@alias` (or a version, or a run's model) from an
explicit tracking store, and predict on raw tables, files or images.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from harness.errors import HarnessError
from harness.serve.inputs import InputProblem, input_frame, input_problems, named_as_model
from harness.spec.names import is_named_source


def check_uri(uri: str) -> None:
    """A model URI names a version or an alias: `models:/NAME` alone is MLflow's logged-model id syntax,
    and its error ("Logged model with ID 'NAME' not found") would mislead."""
    if uri.startswith("models:/"):
        ref = uri.removeprefix("models:/")
        if ref and "@" not in ref and "/" not in ref and not ref.startswith("m-"):
            raise HarnessError(f"model {uri!r} names no version or alias; use models:/{ref}@champion or "
                               f"models:/{ref}/1")
    elif not uri.startswith("runs:/") and "://" not in uri and not Path(uri).exists():
        raise HarnessError(f"model {uri!r}: use models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model")


def model_location(client: MlflowClient, uri: str) -> str:
    """Where the files of the model a URI names live, resolved through `client` alone: MLflow's own
    `models:/` resolution reads the process-wide registry URI, whatever store the caller means."""
    if uri.startswith("runs:/"):
        run_id, _, name = uri.removeprefix("runs:/").partition("/")
        outputs = client.get_run(run_id).outputs
        for output in (outputs.model_outputs if outputs else []):
            logged = client.get_logged_model(output.model_id)
            if logged.name == (name or "model"):
                return logged.artifact_location
        raise MlflowException(f"run {run_id} has no model named {name or 'model'!r}")
    if not uri.startswith("models:/"):
        return uri  # a local folder or an artifact URI
    ref = uri.removeprefix("models:/")
    if ref.startswith("m-"):
        return client.get_logged_model(ref).artifact_location
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    else:
        name, number = ref.rsplit("/", 1)
        version = client.get_model_version(name, number)
    if version.model_id:
        return client.get_logged_model(version.model_id).artifact_location
    return model_location(client, version.source)


def load_model(uri: str, tracking_uri: str):
    """The pyfunc behind a `models:/NAME@alias`, `models:/NAME/VERSION`, `models:/m-<id>` or
    `runs:/ID/model` URI in the store at `tracking_uri` (which also holds the registry)."""
    check_uri(uri)
    try:
        location = model_location(MlflowClient(tracking_uri), uri)
        local = mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=tracking_uri)
        return mlflow.pyfunc.load_model(local)
    except MlflowException as err:
        raise HarnessError(f"cannot load model {uri!r} from {tracking_uri}: {err.message.splitlines()[0]}"
                           " (list registered models with `make ui`, or check --tracking-uri)") from None
    except OSError as err:
        raise HarnessError(f"cannot load model {uri!r}: {err}") from None


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


def predict(uri: str, inputs: pd.DataFrame | np.ndarray, tracking_uri: str, strict: bool = False,
            warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Predictions for a raw table, or for raw images (a numpy array) with a model of images.

    Values the model has to guess about (text in a number column, a missing number, an unseen or empty
    category) are reported through `warn` (default: Python's warnings), or refused with `strict`."""
    return _predict(load_model(uri, tracking_uri), uri, inputs, "the input", strict, warn)


def _predict(model, uri: str, inputs: pd.DataFrame | np.ndarray, where: str, strict: bool = False,
             warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    if image_input(model) is not None:
        if not isinstance(inputs, np.ndarray):
            raise HarnessError(f"{uri} is a model of images; give it images (an array, an .npz file or a folder "
                               "of image files), not a table")
        result = model.predict(input_array(model, inputs))
    elif isinstance(inputs, np.ndarray):
        raise HarnessError(f"{uri} is a model of tables; give it a CSV or Parquet table, not images")
    else:
        if len(inputs) == 0:
            raise HarnessError(f"{where} has no rows to predict")
        inputs = named_as_model(model, inputs)
        try:
            frame = input_frame(model, inputs)
        except HarnessError as err:
            raise HarnessError(f"{where}: {err}") from None
        report(input_problems(model, inputs, frame), where, strict, warn)
        result = model.predict(frame)
    return result if isinstance(result, pd.DataFrame) else pd.DataFrame({"prediction": result})


def key_column(frame: pd.DataFrame, key: str | None) -> str | None:
    """The column that identifies a row: `key` if given, else one named `id` or ending in `_id`."""
    if key is not None:
        if key not in frame.columns:
            raise HarnessError(f"--id {key}: the input has no such column; its columns are: "
                               + ", ".join(map(str, frame.columns[:20])))
        return key
    return next((c for c in frame.columns if str(c).lower() == "id" or str(c).lower().endswith("_id")), None)


def with_keys(frame: pd.DataFrame, result: pd.DataFrame, keep: list[str] = (), key: str | None = None) -> pd.DataFrame:
    """Predictions with what ties them to their rows first: the id column (or `row`, the row's position
    from 0), then the input columns named in `keep`, then the model's outputs."""
    missing = [c for c in keep if c not in frame.columns]
    if missing:
        raise HarnessError(f"--keep {missing[0]}: the input has no such column; its columns are: "
                           + ", ".join(map(str, frame.columns[:20])))
    clash = [c for c in keep if c in result.columns]
    if clash:
        raise HarnessError(f"--keep {clash[0]}: the predictions have a column of that name already")
    name = key_column(frame, key)
    front = {name: frame[name].to_numpy()} if name is not None else {"row": np.arange(len(frame))}
    front.update({c: frame[c].to_numpy() for c in keep if c != name})
    return pd.concat([pd.DataFrame(front), result.reset_index(drop=True)], axis=1)


def read_input(path: Path | str):
    """A table, an .npz of images, or a data source a study names (`sklearn:wine`, `synthetic:linear`)."""
    from harness.data.images import is_image_source, load_images, read_npz
    from harness.data.sources import load_source, read_table

    text = str(path)
    if is_named_source(text):
        if is_image_source(text):
            return load_images(text, None)[0]
        return load_source(text, None, 0)[0]
    path = Path(path)
    return read_npz(path, labels_key=None)[0] if path.suffix.lower() == ".npz" else read_table(path)


def report(problems: list[InputProblem], where: str, strict: bool, warn: Callable[[str], None] | None) -> None:
    """One line per problem; under `strict`, the first problem is an error (and says how many follow)."""
    if strict and problems:
        more = f"; {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        raise HarnessError(f"{where}: {problems[0].message()} (refused by --strict{more}; fix the rows, or "
                           "predict without --strict to accept these guesses)")
    for problem in problems:
        line = f"{where}: {problem.message()}"
        if warn is None:
            warnings.warn(line, stacklevel=3)
        else:
            warn(line)


def predict_file(uri: str, path: Path, tracking_uri: str, keep: list[str] = (), key: str | None = None,
                 strict: bool = False, warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Predictions for a file as `harness predict` reads it: a CSV/Parquet table (a key column first: its
    id column, else `row`; then the `keep` columns), an .npz (array `images`), a folder of image files
    (sorted by name, resized to the model's size; a `file` column first), or a study's data source.
    Values the model has to guess about are reported through `warn`, or refused with `strict`."""
    from harness.data.images import read_image_files

    path = Path(path)
    if path.is_dir():
        if keep:
            raise HarnessError("--keep passes table columns through; a folder of images has none")
        model = load_model(uri, tracking_uri)
        layout = image_input(model)
        if layout is None:
            raise HarnessError(f"{path} is a folder of images, but {uri} is a model of tables; give a CSV or "
                               "Parquet file")
        (*channels, height, width), _ = layout
        names, images = read_image_files(path, height, width, channels[0] if channels else 1)
        result = _predict(model, uri, images, str(path))
        result.insert(0, "file", names)
        return result
    inputs = read_input(path)
    result = _predict(load_model(uri, tracking_uri), uri, inputs, str(path), strict, warn)
    if isinstance(inputs, np.ndarray):  # images: one row per image, in the file's order
        if keep:
            raise HarnessError("--keep passes table columns through; images have none")
        return result
    return with_keys(inputs, result, list(keep), key)

"""The MLflow pyfunc model: a Predictor (preprocessor + network + label decoding) behind `predict(raw_df)`,
or `predict(raw_images)` for a model of images (a numpy array of raw pixels, the signature a tensor spec).

Logged as "models from code" (pyfunc_entry.py), so no class is pickled; the harness package travels in
the model's code path, and pip requirements are given explicitly because inferring them costs seconds.
The model is saved locally and uploaded through an explicit MlflowClient (a LoggedModel, `models:/m-<id>`,
linked to its run as an output), so the tracking store is the client's, never a global setting.

Saving a model costs ~0.2 s in MLflow itself (checking every pip requirement against the environment,
inferring the signature by predicting, validating the input example): the same work for every trial of a
study. So the first trial's saved model is kept as a template, and each later trial with the same
inputs and outputs copies it, writes its own files over the template's and stamps its own identity
(model id, run id, time, size) in the MLmodel file.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

from harness.data.columns import as_model_input
from harness.serve.ensemble import EnsemblePredictor, load_predictor
from harness.serve.predictor import Predictor

PACKAGE_DIR = Path(__file__).resolve().parent
ENTRY = PACKAGE_DIR / "pyfunc_entry.py"
MODEL_NAME = "model"  # the trial's model lives at runs:/<run id>/model


def _requirements() -> list[str]:
    pins = []
    for dist in ("torch", "mlflow", "scikit-learn", "pandas", "numpy", "joblib", "skops", "pydantic", "pyyaml"):
        version = metadata.version(dist).split("+")[0]  # "2.13.0+cpu" is not on any index
        pins.append(f"{dist}=={version}")
    return pins


REQUIREMENTS = _requirements()


class HarnessModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.predictor = load_predictor(context.artifacts)

    # The hint is one MLflow passes through untouched (no conversion), so a model of images gets its array.
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.predictor.predict(model_input)


class Template:
    """The last study's saved model, kept for the process: reused while inputs and outputs stay the same."""

    key: str | None = None
    folder: tempfile.TemporaryDirectory | None = None
    model: Model | None = None  # its MLmodel, parsed once

    @classmethod
    def save(cls, local: Path, predictor: Predictor | EnsemblePredictor, example, logged, run_id: str) -> None:
        """Write the predictor's model at `local`: from the template when it fits, else in full (and keep it).
        A template fits a predictor of the same inputs and outputs and the same files: one network, or an
        ensemble of as many members (every cross-validated trial's model: its fold models)."""
        members = len(predictor.members) if isinstance(predictor, EnsemblePredictor) else 0
        key = json.dumps([predictor.meta.get(k) for k in ("task", "target", "features", "classes", "input_shape")]
                         + [members, _example_digest(example)], default=str)
        if key != cls.key:
            meta = Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id,
                         model_id=logged.model_id)
            with tempfile.TemporaryDirectory() as folder:
                mlflow.pyfunc.save_model(local, python_model=str(ENTRY), artifacts=predictor.save(Path(folder)),
                                         code_paths=[str(PACKAGE_DIR)], pip_requirements=REQUIREMENTS,
                                         signature=any_column(infer_signature(example, predictor.predict(example))),
                                         input_example=example, mlflow_model=meta)
            cls.folder = tempfile.TemporaryDirectory(prefix="harness-model-template-")
            shutil.copytree(local, Path(cls.folder.name) / MODEL_NAME)
            cls.key, cls.model = key, Model.load(local)
            return
        shutil.copytree(Path(cls.folder.name) / MODEL_NAME, local)
        predictor.save(local / "artifacts")  # every file of the predictor: the template's are another trial's
        model = cls.model
        model.model_uuid = model.model_id = logged.model_id
        model.run_id, model.artifact_path = run_id, logged.artifact_location
        model.utc_time_created = str(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
        model.model_size_bytes = sum(f.stat().st_size for f in local.rglob("*") if f.is_file())
        model.save(local / "MLmodel")


def _example_digest(example) -> str:
    if isinstance(example, pd.DataFrame):
        return example.to_json(orient="split", default_handler=str)
    return hashlib.sha256(np.ascontiguousarray(example).tobytes()).hexdigest() + str(example.dtype)


def any_column(signature: ModelSignature) -> ModelSignature:
    """Every column declared `Any`, so raw rows pass as pandas reads them: MLflow's `double` refuses an
    int64 column (a CSV of whole numbers), its `long` a missing value, and its `string` a True/False
    column, which pandas reads as bool and the model reads as the text it was trained on. The model itself
    reads each column as in training: numbers (refusing text there) or text (Predictor); names and required
    columns stay checked by MLflow, through pyfunc and REST serving alike."""
    inputs = signature.inputs
    if inputs is None or inputs.is_tensor_spec():
        return signature
    columns = [ColSpec(AnyType(), spec.name, spec.required) for spec in inputs.inputs]
    return ModelSignature(inputs=Schema(columns), outputs=signature.outputs, params=signature.params)


def log_model(client: MlflowClient, experiment_id: str, run_id: str, predictor: Predictor | EnsemblePredictor,
              input_example: pd.DataFrame | np.ndarray) -> str:
    """Log the predictor (one network or an ensemble) as the model `model` of run `run_id` in experiment
    `experiment_id` (given, not looked up: a store call less per trial); returns its `models:/m-<id>` URI.

    The signature is inferred from a few raw rows or raw images, so MLflow checks what a user passes:
    columns and their types, or the images' layout, size and dtype.
    """
    example = input_example[:5] if isinstance(input_example, np.ndarray) else as_model_input(input_example.head(5))
    logged = client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                        params={k: str(v) for k, v in predictor.params.items()})
    try:
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder) / MODEL_NAME
            Template.save(local, predictor, example, logged, run_id)
            client.log_model_artifacts(logged.model_id, str(local))
        client.log_outputs(run_id, models=[LoggedModelOutput(logged.model_id, step=0)])
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return f"models:/{logged.model_id}"

"""The MLflow pyfunc model: a Predictor (preprocessor + network + label decoding) behind `predict(raw_df)`,
or `predict(raw_images)` for a model of images (a numpy array of raw pixels, the signature a tensor spec).

Logged as "models from code" (pyfunc_entry.py), so no class is pickled; the harness package travels in
the model's code path, and pip requirements are given explicitly because inferring them costs seconds.
The model is saved locally and uploaded through an explicit MlflowClient (a LoggedModel, `models:/m-<id>`,
linked to its run as an output), so the tracking store is the client's, never a global setting.
"""

from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.models import Model, infer_signature

from harness.serve.ensemble import EnsemblePredictor, load_predictor
from harness.serve.predictor import Predictor

PACKAGE_DIR = Path(__file__).resolve().parent
ENTRY = PACKAGE_DIR / "pyfunc_entry.py"
MODEL_NAME = "model"  # the trial's model lives at runs:/<run id>/model


def _requirements() -> list[str]:
    pins = []
    for dist in ("torch", "mlflow", "scikit-learn", "pandas", "numpy", "joblib", "pydantic", "pyyaml"):
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


def log_model(client: MlflowClient, run_id: str, predictor: Predictor | EnsemblePredictor,
              input_example: pd.DataFrame | np.ndarray) -> str:
    """Log the predictor (one network or an ensemble) as the run's model `model`; returns its
    `models:/m-<id>` URI.

    The signature is inferred from a few raw rows or raw images, so MLflow checks what a user passes:
    columns and their types, or the images' layout, size and dtype.
    """
    example = input_example[:5] if isinstance(input_example, np.ndarray) else input_example.head(5)
    signature = infer_signature(example, predictor.predict(example))
    run = client.get_run(run_id)
    logged = client.create_logged_model(run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                        params={k: str(v) for k, v in predictor.params.items()})
    try:
        with tempfile.TemporaryDirectory() as folder:
            artifacts = predictor.save(Path(folder) / "files")
            local = Path(folder) / MODEL_NAME
            meta = Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id,
                         model_id=logged.model_id)
            mlflow.pyfunc.save_model(local, python_model=str(ENTRY), artifacts=artifacts,
                                     code_paths=[str(PACKAGE_DIR)], pip_requirements=REQUIREMENTS,
                                     signature=signature, input_example=example, mlflow_model=meta)
            client.log_model_artifacts(logged.model_id, str(local))
        client.log_outputs(run_id, models=[LoggedModelOutput(logged.model_id, step=0)])
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return f"models:/{logged.model_id}"

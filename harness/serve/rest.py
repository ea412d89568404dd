"""REST serving with MLflow's scoring server (`mlflow models serve`), as `harness serve` starts it.

The model is resolved through the given store and downloaded once, so the server gets a local folder and
never reads a process-wide tracking URI. The server starts `uvicorn` by name: the child's PATH begins with
this environment's bin folder, so it works from a fresh clone without activating the venv.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from harness.errors import HarnessError
from harness.serve.predict import check_uri, model_location

DEFAULT_PORT = 5001  # beside the UI's 5000


def local_model(uri: str, tracking_uri: str) -> str:
    """The model's files in a local folder (downloaded from the store when they live elsewhere)."""
    check_uri(uri)
    try:
        location = model_location(MlflowClient(tracking_uri), uri)
        return mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=tracking_uri)
    except MlflowException as err:
        raise HarnessError(f"cannot serve {uri!r} from {tracking_uri}: {err.message.splitlines()[0]} "
                           "(`harness models NAME` lists the versions and aliases)") from None


def server_command(uri: str, tracking_uri: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of the scoring server for the model at `uri`."""
    folder = local_model(uri, tracking_uri)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    argv = [str(bin_dir / "mlflow"), "models", "serve", "-m", folder, "--env-manager", "local",
            "-h", host, "-p", str(port), "-w", "1"]
    return argv, env

"""`harness ui`: the MLflow UI on the embedded store."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import app


@app.command()
def ui(
    port: int = typer.Option(5000, "--port"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="Default: the embedded store."),
) -> None:
    """Open the MLflow UI on the embedded store (or --tracking-uri)."""
    from harness.record.store import default_tracking_uri

    store = tracking_uri or default_tracking_uri()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    # No job runner (about 2 GB less memory) and no telemetry (there is no network).
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.execv(str(mlflow_bin), [str(mlflow_bin), "ui", "--backend-store-uri", store,
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"])

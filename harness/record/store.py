"""Where the MLflow store is, and whether it can be used: answered before MLflow is imported (a second or
more), so a wrong store is a one-line error at once and nothing is written."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import HarnessError
from harness.record.probe import check_database_url, check_folder, check_http_server, redacted, sqlite_path


def default_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else the embedded store `sqlite:////<cwd>/mlruns/mlflow.db` (MLflow
    creates the folder with the database; check_tracking_store first makes sure it can)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path('mlruns').resolve() / 'mlflow.db'}"


def check_tracking_store(uri: str, create: bool = True) -> None:
    """Fail at once, before anything is written, on a tracking store MLflow could not use: a server that
    does not answer (MLflow would retry for minutes), a database file that is a folder, garbage or
    read-only, a missing driver, the file store MLflow 3 no longer writes, an unknown scheme.

    `create`: a study may create a new local store; `harness predict` reads an existing one only.
    """
    what = f"tracking store {redacted(uri)}"
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        check_http_server(uri, what)
    elif scheme == "sqlite":
        path = sqlite_path(uri)
        if path is not None and not create and not path.exists():
            raise HarnessError(f"{what}: no MLflow store at {path}; run a study first, or point --tracking-uri "
                               "(or MLFLOW_TRACKING_URI) at the store that holds the model")
        check_database_url(uri, what, create)
        if create:  # MLflow puts a local database's artifacts in ./mlruns, whatever folder holds the database
            check_folder(Path("mlruns").resolve(), what + " (artifacts in ./mlruns)")
    elif scheme in ("", "file"):
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("1", "true"):
            raise HarnessError(f"{what}: MLflow 3 no longer writes the file store (maintenance mode); use "
                               "sqlite:///<folder>/mlflow.db (`mlflow migrate-filestore` converts an old one), or set "
                               "MLFLOW_ALLOW_FILE_STORE=true to use it anyway")
        check_folder(Path(uri.removeprefix("file://")), what)
    elif scheme.split("+")[0] in ("postgresql", "mysql", "mssql"):
        check_database_url(uri, what, create)
    elif scheme != "databricks":
        raise HarnessError(f"{what}: unknown scheme {scheme!r}; use sqlite:///<folder>/mlflow.db, "
                           "postgresql://..., or the http(s):// URL of an MLflow server")

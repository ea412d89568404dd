"""`harness check`: audit a study's trials against its MLflow runs and the registry."""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.app import app, echo, fail, quiet_libraries, storage_option, tracking_option
from harness.errors import HarnessError


@app.command()
def check(
    study_name: str = typer.Argument(..., metavar="STUDY", help="The study's name (its `name:`)."),
    storage: Optional[str] = storage_option(),
    tracking_uri: Optional[str] = tracking_option(),
) -> None:
    """Audit a study against MLflow and the registry; prints each mismatch, exit 1 if any.

    Every COMPLETE trial has one FINISHED run with a model that loads, no finished trial's run is RUNNING,
    one parent run, the alias on a version whose run exists, no version registered twice."""
    quiet_libraries()
    try:
        from harness.record.store import default_tracking_uri
        from harness.study.audit import check_study

        found = check_study(study_name, storage, tracking_uri or default_tracking_uri(), echo)
    except HarnessError as err:
        fail(str(err))
    for line in found:
        echo(f"  mismatch: {line}")
    echo(f"{len(found)} mismatch(es)" if found else "ok: Optuna, MLflow and the registry agree")
    raise typer.Exit(1 if found else 0)

"""`harness crown`: crown a study whose budget is spent, when its workers all died before crowning it."""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.app import app, echo, fail, interrupted, quiet_libraries
from harness.errors import HarnessError


@app.command()
def crown(
    study_name: str = typer.Argument(..., metavar="STUDY", help="The study's name (its `name:`)."),
    storage: Optional[str] = typer.Option(None, "--storage", envvar="HARNESS_STORAGE",
                                          help="Optuna storage: a database URL or a journal file path."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow tracking URI "
                                               "(default: $MLFLOW_TRACKING_URI, else sqlite in ./mlruns)."),
) -> None:
    """Score the best trial on test, register it and move the alias (once; a crown cut short is finished)."""
    quiet_libraries()
    try:
        from harness.cli.summary import summary
        from harness.record.store import default_tracking_uri
        from harness.study.recrown import crown_study

        result, spec = crown_study(study_name, storage, tracking_uri or default_tracking_uri(), echo)
    except HarnessError as err:
        fail(str(err))
    except KeyboardInterrupt as err:
        interrupted(err)
    if result is not None:
        echo(summary(result, spec))

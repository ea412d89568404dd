"""`harness crown`: crown a study whose budget is spent, when its workers all died before crowning it."""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.app import app, echo, fail, interrupted, quiet_libraries, storage_option, tracking_option
from harness.errors import HarnessError


@app.command()
def crown(
    study_name: str = typer.Argument(..., metavar="STUDY", help="The study's name (its `name:`)."),
    storage: Optional[str] = storage_option(),
    tracking_uri: Optional[str] = tracking_option(),
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

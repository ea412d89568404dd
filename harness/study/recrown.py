"""`harness crown STUDY`: the crown phase alone, for a study whose budget was spent by workers that all died
(or that was cut short while crowning). The study file comes from the parent run (`study.yaml`), the data
from its source, as the workers saw them; dead workers' trials on this machine are failed first.
"""

from __future__ import annotations

from collections.abc import Callable

import harness.study.phases as phases
from harness.errors import HarnessError
from harness.record.retry import retrying
from harness.spec.schema import StudySpec
from harness.study.checks import load_data
from harness.study.crown import StudyResult
from harness.study.session import existing_session, recorded_spec


def crown_study(name: str, storage: str | None, tracking_uri: str,
                echo: Callable[[str], None]) -> tuple[StudyResult | None, StudySpec]:
    """Crown study `name` once nothing runs; None when it is crowned already (a line says so), with the
    study file it ran (for the summary)."""
    session = existing_session(name, storage, tracking_uri, echo)
    retrying(session.reaper.reap, what="reaping dead workers' trials")()
    session.reaper.sweep()
    spec = recorded_spec(session)
    try:
        data = load_data(spec)
    except HarnessError as err:
        raise HarnessError(f"study {name}: cannot load its data again to score the champion on test: {err}") from None
    recorded = session.tracker.client.get_run(session.parent_id).data.tags.get("harness.data_digest", data.digest)
    if data.digest != recorded:
        raise HarnessError(f"study {name}: the data at {spec.data.source} changed since the study ran (its digest "
                           "differs), so the champion's test score would not be the study's; restore the file")
    waiting = [t.number for t in session.study.get_trials(deepcopy=False) if t.state.name == "WAITING"]
    if waiting and phases.crown_round(session.study) < session.study.user_attrs.get(phases.BUDGET_ATTR, 0):
        echo(f"  note: trial(s) {', '.join(map(str, waiting))} wait to be retried; crowning what is done now "
             "(run the study again to finish its budget)")
    return phases.crown_once(session.study, spec, data, session.tracker, session.experiment_id, session.parent_id,
                             session.storage, echo), spec

"""`harness check STUDY`: the Optuna side of the audit. Reads the study's trials and what it recorded of
MLflow, then lets record/audit.py hold them against the tracking store and the registry.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from harness.record.audit import StudyRecord, TrialRecord, audit
from harness.serve.predict import load_model
from harness.study.owners import HOST_ATTR, PID_ATTR, STARTED_ATTR, process_alive
from harness.study.phases import CROWNED_ATTR
from harness.study.reaper import RUN_ATTR
from harness.study.session import existing_session, recorded_spec


def check_study(name: str, storage: str | None, tracking_uri: str, echo: Callable[[str], None]) -> list[str]:
    """Every mismatch between study `name`'s trials, its MLflow runs and the registry (empty: all agree)."""
    session = existing_session(name, storage, tracking_uri, echo)
    trials = session.study.get_trials(deepcopy=False)
    spec = recorded_spec(session)
    crowned = session.study.user_attrs.get(CROWNED_ATTR) or {}
    record = StudyRecord(name, session.parent_id,
                         [TrialRecord(t.number, t.state.name, t.user_attrs.get(RUN_ATTR), t.user_attrs.get("model_uri"))
                          for t in trials],
                         spec.model_name, spec.registry.alias, crowned.get("version"))
    found = []
    host = socket.gethostname()
    for t in trials:
        attrs = t.user_attrs
        if t.state.name == "RUNNING" and attrs.get(HOST_ATTR) == host and not process_alive(
                int(attrs.get(PID_ATTR, 0)), attrs.get(STARTED_ATTR)):
            found.append(f"trial {t.number}: RUNNING, but its worker (pid {attrs.get(PID_ATTR)} on {host}) is gone; "
                         "running the study again (or `harness crown`) fails and retries it")
    echo(f"checking study {name}: {len(trials)} trials, parent run {session.parent_id}, "
         f"{spec.model_name}@{spec.registry.alias}")
    return found + audit(session.tracker.client, record, lambda uri: load_model(uri, tracking_uri))

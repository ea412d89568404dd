"""What a process holds while it takes part in a study: the tracking store, the Optuna storage, the study,
its experiment and parent run, and the reaper of dead workers' trials. Opened the same way by a study's
workers, by `harness crown` and by `harness check` (which never create anything).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna

from harness.errors import HarnessError, mask_credentials
from harness.record.retry import http_retry_defaults
from harness.record.tracking import Tracker, ensure_store
from harness.spec.schema import StudySpec, build_spec
from harness.study.phases import PARENT_RUN_ATTR, join, open_study, usable_parent
from harness.study.reaper import Reaper, StaleTrials
from harness.study.storage import journal_path, optuna_storage


@dataclass
class Session:
    study: optuna.Study
    storage: object  # the Optuna storage object (journal or RDB)
    tracker: Tracker
    experiment_id: str
    parent_id: str
    reaper: Reaper
    made_parent: bool  # this process made the parent run, so it does the rest of init

    @property
    def name(self) -> str:
        return self.study.study_name


def storage_location(storage: str | None, name: str) -> str:
    """Where the trials live, as every worker must be told: a database URL, or the journal's absolute path."""
    if storage and "://" in storage:
        return storage
    return str(journal_path(storage, name).resolve())


def open_session(spec: StudySpec, device: str, storage: str | None, tracking_uri: str, sampler, pruner,
                 directions: list[str], echo: Callable[[str], None]) -> Session:
    """Join (or create, if first) the study and its parent run."""
    http_retry_defaults()
    ensure_store(tracking_uri)  # before any worker's first MLflow call: a fresh SQLite store is created once
    tracker = Tracker(tracking_uri, spec.name, device)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the harness prints its own line per trial
    stale = StaleTrials()
    store = optuna_storage(storage, spec.name, stale)
    study, _ = open_study(spec, store, sampler, pruner, directions)
    experiment_id, parent_id, made = join(study, spec, tracker, store)
    return Session(study, store, tracker, experiment_id, parent_id,
                   Reaper(study, store, stale, tracker, experiment_id, parent_id, echo), made)


def existing_session(name: str, storage: str | None, tracking_uri: str, echo: Callable[[str], None]) -> Session:
    """An existing study by name, for `harness crown` and `harness check`; a HarnessError if there is none."""
    http_retry_defaults()
    if not (storage and "://" in storage) and not journal_path(storage, name).is_file():
        raise HarnessError(f"study {name}: no journal at {journal_path(storage, name)}; give the --storage that "
                           "holds it (or run the command where the study ran)")
    stale = StaleTrials()
    store = optuna_storage(storage, name, stale)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        raise HarnessError(f"study {name}: not in {mask_credentials(storage_location(storage, name))}; "
                           "check the name and --storage") from None
    tracker = Tracker(tracking_uri, name, "cpu")
    experiment = tracker.client.get_experiment_by_name(name)
    parent_id = study.user_attrs.get(PARENT_RUN_ATTR)
    if experiment is None or not usable_parent(tracker, parent_id, experiment.experiment_id):
        raise HarnessError(f"study {name}: its parent run {parent_id} is not in the tracking store "
                           f"{mask_credentials(tracking_uri)}; give the --tracking-uri the study ran with")
    return Session(study, store, tracker, experiment.experiment_id, parent_id,
                   Reaper(study, store, stale, tracker, experiment.experiment_id, parent_id, echo), False)


def recorded_spec(session: Session) -> StudySpec:
    """The resolved study file the study's init logged on its parent run (`study.yaml`)."""
    import yaml

    local = session.tracker.client.download_artifacts(session.parent_id, "study.yaml")
    raw = yaml.safe_load(Path(local).read_text())
    # Older harness versions wrote every default too, other families' keys included, which the schema
    # refuses when read back: a key at its default value says nothing, so it is left out.
    for section, field in StudySpec.model_fields.items():
        defaults = field.default.model_dump(mode="python") if hasattr(field.default, "model_dump") else None
        if defaults and isinstance(raw.get(field.alias or section), dict):
            raw[field.alias or section] = {k: v for k, v in raw[field.alias or section].items()
                                           if k not in defaults or defaults[k] != v}
    return build_spec(raw, f"study.yaml of run {session.parent_id}")

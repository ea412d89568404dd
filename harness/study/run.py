"""A study's life in one process: load and check everything a user can get wrong, then the study and its
parent run, the baselines, the trials, and the crown.

    spec -> data (once per process) -> study.optimize(objective) -> best trial scored on test -> registry
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import optuna
import torch

from harness.data.prepare import prepare
from harness.data.profile import with_scaling
from harness.errors import HarnessError
from harness.record import baselines as reference
from harness.record.store import check_tracking_store, default_tracking_uri
from harness.search import objectives
from harness.search.samplers import make_pruner, make_sampler, multi_objective, planned_trials
from harness.search.warmstart import check_enqueue, enqueue_from_file, enqueue_from_study
from harness.spec.distributions import values_of
from harness.spec.schema import StudySpec, load_spec
from harness.study.checks import check_metric, check_metric_fits_splits, check_model_fits_data, input_description
from harness.study.events import StudyStart, callback, printer
from harness.study.storage import check_storage, earlier_study, optuna_storage

if TYPE_CHECKING:
    from harness.study.crown import StudyResult

PARENT_RUN_ATTR = "mlflow_parent_run_id"

def run_study(spec: StudySpec | str | Path, *, trials: int | None = None, timeout: float | None = None,
              overrides: list[str] = (), storage: str | None = None, tracking_uri: str | None = None,
              warm_start_from: str | None = None, echo: Callable[[str], None] = print,
              progress: Callable[[object], None] | None = None) -> StudyResult:
    """Run (or resume) a study from a study file or a StudySpec; returns what the summary prints.

    `warm_start_from` names an earlier study in the same Optuna storage whose best trials go first.
    `progress` gets a StudyStart, then a TrialEvent per trial (study/events.py); default: a line per trial.
    """
    if not isinstance(spec, StudySpec):
        spec = load_spec(spec, overrides)
    torch.set_num_threads(spec.train.threads or 1)
    updates = {k: v for k, v in {"trials": trials, "timeout": timeout}.items() if v is not None}
    spec = spec.model_copy(update={"study": spec.study.model_copy(update=updates)})
    split = spec.data.split
    # Everything a user can get wrong is checked before the first write to MLflow or Optuna.
    store = tracking_uri or default_tracking_uri()
    check_tracking_store(store)
    check_storage(storage, spec.name)
    try:
        data = prepare(spec.data.source, spec.data.target, spec.task, split.val, split.test, split.seed,
                       spec.train.device, spec.data.target_transform, kind=spec.data.kind, text=spec.data.text,
                       drop=spec.data.drop)
        spec = spec.resolved(data.task)
        metric = check_metric(spec)
        check_model_fits_data(spec, data)
        data.columns = with_scaling(data.columns, list(values_of(spec.data.numeric)))
        check_metric_fits_splits(spec, data)
    except HarnessError as err:
        raise HarnessError(f"{spec.origin}: {err}") from None
    check_enqueue(spec)
    sampler, pruner = make_sampler(spec), make_pruner(spec)
    if warm_start_from == spec.name:
        raise HarnessError(f"--warm-start-from {warm_start_from} is this study itself; running it again resumes it")
    source = earlier_study(warm_start_from, storage) if warm_start_from else None
    directions = objectives.directions(spec)
    echo(f"study {spec.name}: {data.task} of {data.target!r}, {sum(len(v) for v in data.raw.values())} rows "
         f"(train {len(data.raw['train'])} / val {len(data.raw['val'])} / test {len(data.raw['test'])}), "
         f"{input_description(data)}, device {data.device}")

    # MLflow takes a second or more to import: only now, once the first line has told the user the data is in.
    from harness.record.lineage import dataset_inputs
    from harness.record.tracking import Tracker
    from harness.study.crown import crown
    from harness.study.objective import EXPECTED_TRIAL_FAILURES, Objective
    from harness.study.presentation import after_crown, echo_columns, label_parent

    for note in data.notes:
        echo(f"  {note}" if note.startswith("warning") else f"  note: {note}")  # warnings show even with --quiet
    echo_columns(data, echo)

    tracker = Tracker(store, spec.name, str(data.device))
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the harness prints its own line per trial
    study = optuna.create_study(study_name=spec.name, storage=optuna_storage(storage, spec.name),
                                sampler=sampler, pruner=pruner, directions=directions, load_if_exists=True)
    existing = [d.name.lower() for d in study.directions]
    if existing != directions:
        raise HarnessError(f"study {spec.name!r} already exists and optimizes ({', '.join(existing)}); this file "
                           f"asks for ({', '.join(directions)}) (use another name or --storage)")
    experiment_id = tracker.experiment(spec.name)
    parent_id = tracker.parent_run(experiment_id, study.user_attrs.get(PARENT_RUN_ATTR))
    study.set_user_attr(PARENT_RUN_ATTR, parent_id)
    tracker.client.log_text(parent_id, spec.to_yaml(), "study.yaml")
    tracker.set_tags(parent_id, {"mlflow.note.content": spec.description, "harness.task": data.task,
                                 "harness.data_digest": data.digest, "harness.seed": str(spec.study.seed)})
    # Built once per study: the splits as MLflow datasets, logged to the parent and to every trial run.
    inputs = dataset_inputs(spec.data.source, data.target, data.raw, data.labels)
    tracker.log_inputs(parent_id, inputs)
    label_parent(spec, data, tracker, experiment_id, parent_id, echo)

    # Before the trials, so their numbers are the bar to watch while the study runs.
    fitted = reference.ensure_baselines(spec, data, tracker, experiment_id, parent_id, echo) if spec.baselines else []
    done_before = len(study.trials)
    enqueue_from_file(study, spec, echo)
    if source is not None:
        enqueue_from_study(study, spec, source, echo)
    n_trials, grid_note = planned_trials(spec, spec.study.trials, study)
    goal = (f"optimizing {spec.study.metric}, {spec.study.direction}" if not multi_objective(spec) else
            "objectives " + ", ".join(f"{n} ({d})" for n, d in zip(spec.study.objectives, directions))
            + f"; the champion is the front's best {spec.study.metric}")
    echo(f"{'resuming' if done_before else 'starting'} study with {done_before} earlier trials; "
         f"running {n_trials} more ({goal})")
    if grid_note:
        echo(f"  note: {grid_note}")
    if multi_objective(spec) and spec.study.pruner != "none":
        echo(f"  note: Optuna cannot prune multi-objective studies; pruner {spec.study.pruner} is off")
    objective = Objective(spec, data, tracker, experiment_id, parent_id, metric, inputs)
    names = objectives.objective_names(spec)
    progress = progress or printer(echo, spec.study.metric, names)
    progress(StudyStart(spec.name, spec.study.metric, spec.study.direction, n_trials, done_before,
                               spec.study.timeout, names if len(names) > 1 else []))
    try:
        study.optimize(objective, n_trials=n_trials, timeout=spec.study.timeout,
                       catch=EXPECTED_TRIAL_FAILURES, callbacks=[callback(progress)])
    except BaseException:
        tracker.finish(parent_id, "KILLED", "interrupted")
        raise
    result = crown(study, spec, data, tracker, experiment_id, parent_id, echo)
    result.baselines = fitted
    result.vs_baselines = reference.comparison_line(result.test, spec.study.metric, data.task, fitted)
    if result.vs_baselines:
        tracker.set_tags(parent_id, {"harness.vs_baselines": result.vs_baselines})
    after_crown(study, spec, data, tracker, result, echo)
    tracker.finish(parent_id, "FINISHED")
    return result

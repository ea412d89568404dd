"""A study's life in one process: load and check everything a user can get wrong, then the three phases.

    spec -> data (once per process) -> init (once per study) -> work (every worker) -> crown (once)

`--workers N` starts N worker processes on this machine (workers.py) between init and crown; any number of
machines can run the same command on shared stores (a database `--storage`, a tracking server).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

import harness.study.workers as local
from harness.errors import HarnessError, mask_credentials
from harness.record.store import check_tracking_store, default_tracking_uri
from harness.search import objectives
from harness.search.samplers import make_pruner, make_sampler, multi_objective, planned_trials
from harness.search.warmstart import check_enqueue
from harness.spec.schema import StudySpec, load_spec
from harness.study.checks import (
    check_metric,
    check_metric_fits_splits,
    check_model_fits_data,
    input_description,
    load_data,
)
from harness.study.events import StudyStart, callback, printer
from harness.study.storage import check_storage, earlier_study

if TYPE_CHECKING:
    from harness.study.crown import StudyResult


def run_study(spec: StudySpec | str | Path, *, trials: int | None = None, timeout: float | None = None,
              overrides: list[str] = (), storage: str | None = None, tracking_uri: str | None = None,
              warm_start_from: str | None = None, echo: Callable[[str], None] = print,
              progress: Callable[[object], None] | None = None, workers: int | None = None,
              workers_per_gpu: int | None = None, worker_slot: tuple[int, int] | None = None,
              quiet_workers: bool = False) -> StudyResult | None:
    """Run (or resume) a study from a study file or a StudySpec; returns what the summary prints.

    `workers` None: this process is the study's one worker and runs `trials` more (a resumed study adds
    them). `workers` N (or `workers_per_gpu` K, N = K x GPUs): `trials` is the study's total budget, shared by
    N worker processes on this machine and by any other process running the same study; a study whose
    budget is spent is crowned if it was not (else nothing runs, and None is returned). `worker_slot`
    (i, N) is one of those worker processes: it works, and leaves init and crown to its supervisor.
    `warm_start_from` names an earlier study in the same Optuna storage whose best trials go first.
    `progress` gets a StudyStart, then a TrialEvent per trial (study/events.py); default: a line per trial.
    """
    if not isinstance(spec, StudySpec):
        spec = load_spec(spec, overrides)
    torch.set_num_threads(spec.train.threads or 1)
    updates = {k: v for k, v in {"trials": trials, "timeout": timeout}.items() if v is not None}
    spec = spec.model_copy(update={"study": spec.study.model_copy(update=updates)})
    # Everything a user can get wrong is checked before the first write to MLflow or Optuna.
    uri = tracking_uri or default_tracking_uri()
    check_tracking_store(uri)
    check_storage(storage, spec.name)
    try:
        data = load_data(spec)
        spec = spec.resolved(data.task)
        metric = check_metric(spec)
        check_model_fits_data(spec, data)
        check_metric_fits_splits(spec, data)
    except HarnessError as err:
        raise HarnessError(f"{spec.origin}: {err}") from None
    check_enqueue(spec)
    sampler, pruner = make_sampler(spec), make_pruner(spec)
    if warm_start_from == spec.name:
        raise HarnessError(f"--warm-start-from {warm_start_from} is this study itself; running it again resumes it")
    source = earlier_study(warm_start_from, storage) if warm_start_from else None
    directions = objectives.directions(spec)
    gpus = local.visible_gpus() if workers_per_gpu or (workers or 0) > 1 else []
    n_workers = None if workers is None and workers_per_gpu is None else \
        local.plan_workers(workers, workers_per_gpu, gpus, spec.train.device)
    if worker_slot is not None:
        torch.set_num_threads(local.worker_threads(spec.train.threads, worker_slot[1]))
        echo = _prefixed(echo, f"[worker {worker_slot[0]}]")
    else:
        echo(f"study {spec.name}: {data.task} of {data.target!r}, {sum(len(v) for v in data.raw.values())} rows "
             f"(train {len(data.raw['train'])} / val {len(data.raw['val'])} / test {len(data.raw['test'])}), "
             f"{input_description(data)}, device {data.device}")

    # MLflow takes a second or more to import: only now, once the first line has told the user the data is in.
    import harness.study.phases as phases
    from harness.record.lineage import dataset_inputs
    from harness.record.retry import retrying
    from harness.search import budget
    from harness.study.objective import Objective
    from harness.study.presentation import echo_columns
    from harness.study.session import open_session, storage_location
    from harness.study.work import Worker

    if worker_slot is None:
        for note in data.notes:
            echo(f"  {note}" if note.startswith("warning") else f"  note: {note}")  # warnings show even with --quiet
        echo_columns(data, echo)

    device = str(data.device)
    if worker_slot is not None and device.startswith("cuda") and os.environ.get("CUDA_VISIBLE_DEVICES"):
        device += f" (GPU {os.environ['CUDA_VISIBLE_DEVICES']})"  # the tag says which of the machine's GPUs
    session = open_session(spec, device, storage, uri, sampler, pruner, directions, echo)
    study, tracker, parent_id = session.study, session.tracker, session.parent_id
    # Built once per process: the splits as MLflow datasets, logged to the parent and to every trial run.
    inputs = dataset_inputs(spec.data.source, data.target, data.raw, data.labels)
    retrying(session.reaper.reap, what="reaping dead workers' trials")()
    done_before, used = len(study.trials), budget.used(study.trials)
    stream = done_before + (0 if worker_slot is None else 100_003 * (worker_slot[0] + 1))
    if stream:  # a resumed study, or one of several workers: seeded draws of its own (search/samplers.py)
        study.sampler = make_sampler(spec, stream)
    fitted = None
    if n_workers is None or session.made_parent:  # one process of a shared study; every run of a classic one
        fitted = phases.init(session, spec, data, inputs, mask_credentials(storage_location(storage, spec.name)),
                             source, echo)
    if n_workers is None and phases.crown_pending(study, session.storage, spec.name):
        echo("the last run was cut short while crowning the study: finishing that crown first (run again for "
             "more trials)")
        return phases.crown_once(study, spec, data, tracker, session.experiment_id, parent_id, session.storage,
                                 echo, fitted)
    wanted = spec.study.trials if n_workers is None else max(0, spec.study.trials - used)
    n_trials, grid_note = planned_trials(spec, wanted, study)
    total = used + n_trials
    if worker_slot is None:
        _announce(echo, spec, directions, done_before, n_trials, n_workers, total, grid_note)
    if n_workers is not None and study.user_attrs.get(phases.BUDGET_ATTR) != total:
        study.set_user_attr(phases.BUDGET_ATTR, total)
    study_workers = worker_slot[1] if worker_slot is not None else n_workers or 1
    objective = Objective(spec, data, tracker, session.experiment_id, parent_id, metric, inputs, study_workers)
    if objective.fit_folds.size > 1 and worker_slot is None:
        echo(f"  note: a trial's folds fit {objective.fit_folds.size} at a time, a process each "
             "(study.fold_workers)")
    names = objectives.objective_names(spec)
    progress = progress or printer(echo, spec.study.metric, names)
    if worker_slot is None:
        progress(StudyStart(spec.name, spec.study.metric, spec.study.direction, n_trials, done_before,
                            spec.study.timeout, names if len(names) > 1 else []))
    worker = Worker(study, session.storage, objective, session.reaper, tracker, parent_id, total,
                    spec.study.timeout, callback(progress), echo)
    try:
        if (n_workers or 1) > 1 and n_trials > 0:
            local.supervise(local.Launch(spec.to_yaml(), n_workers, spec.train.threads,
                                         storage_location(storage, spec.name), uri, total, spec.study.timeout,
                                         gpus if spec.train.device != "cpu" else [], quiet_workers), echo)
            retrying(session.reaper.reap, what="reaping dead workers' trials")()
        worker.run()  # with N workers: only waits for trials still running elsewhere, and runs their retries
    except BaseException as err:
        if worker_slot is None:
            phases.stopped(study, tracker, parent_id, err)
        raise
    finally:
        objective.close()
    if worker_slot is not None:
        return None
    return phases.crown_once(study, spec, data, tracker, session.experiment_id, parent_id, session.storage,
                             echo, fitted)


def _prefixed(echo: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda line: echo(f"{prefix} {line.lstrip()}")


def _announce(echo, spec: StudySpec, directions: list[str], done_before: int, n_trials: int, n_workers: int | None,
              total: int, grid_note: str | None) -> None:
    goal = (f"optimizing {spec.study.metric}, {spec.study.direction}" if not multi_objective(spec) else
            "objectives " + ", ".join(f"{n} ({d})" for n, d in zip(spec.study.objectives, directions))
            + f"; the champion is the front's best {spec.study.metric}")
    how = "" if n_workers is None else f" by {n_workers} worker{'s' if n_workers > 1 else ''}, to {total} in all"
    echo(f"{'resuming' if done_before else 'starting'} study with {done_before} earlier trials; "
         f"running {n_trials} more{how} ({goal})")
    if grid_note:
        echo(f"  note: {grid_note}")
    if multi_objective(spec) and spec.study.pruner != "none":
        echo(f"  note: Optuna cannot prune multi-objective studies; pruner {spec.study.pruner} is off")

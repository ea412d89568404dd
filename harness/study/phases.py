"""The phases of a study's life that must happen once, however many workers arrive, in whatever order:

    init   the study (whoever creates it in Optuna first), its parent run (whoever claims it first; its id
           recorded in the study), the resolved study file, dataset inputs, baselines, warm starts
    crown  once the budget is spent and no trial runs: best trial scored on test, registered, the alias
           moved, the parent run finished; claimed by one worker, and finished, not repeated, by the next
           command if that one died (registration and alias are idempotent: see serve/registry.py)

Between them, every worker works (work.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import optuna
from mlflow.exceptions import MlflowException
from optuna.exceptions import DuplicatedStudyError
from optuna.trial import TrialState

from harness.data.prepare import Prepared
from harness.errors import HarnessError
from harness.record import baselines as reference
from harness.record.tracking import Tracker
from harness.search import budget, objectives, visualize
from harness.search.warmstart import enqueue_from_file, enqueue_from_study
from harness.spec.schema import StudySpec
from harness.study.claims import claim, claimed
from harness.study.crown import StudyResult, crown
from harness.study.presentation import after_crown, label_parent

PARENT_RUN_ATTR = "mlflow_parent_run_id"  # study user attribute: the study's parent run in MLflow
CROWNED_ATTR = "harness_crowned"  # study user attribute: {trials, version, message} of the last crown
BUDGET_ATTR = "harness_budget"  # study user attribute: the total budget the workers were last given
PARENT_POLL_SECONDS = 0.5


def open_study(spec: StudySpec, storage, sampler, pruner, directions: list[str]) -> tuple[optuna.Study, bool]:
    """The study, and whether this process created it: of workers arriving at once, exactly one does."""
    try:
        study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner,
                                    directions=directions)
        created = True
    except DuplicatedStudyError:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    existing = [d.name.lower() for d in study.directions]
    if existing != directions:
        raise HarnessError(f"study {spec.name!r} already exists and optimizes ({', '.join(existing)}); this file "
                           f"asks for ({', '.join(directions)}) (use another name or --storage)")
    return study, created


def usable_parent(tracker: Tracker, run_id: str | None, experiment_id: str) -> bool:
    """Whether the parent run the study recorded is in this tracking store (a study's Optuna storage can
    outlive the tracking store it was first run with)."""
    if not run_id:
        return False
    try:
        run = tracker.client.get_run(run_id)
    except MlflowException:
        return False
    return run.info.experiment_id == experiment_id and run.info.lifecycle_stage == "active"


def join(study: optuna.Study, spec: StudySpec, tracker: Tracker, storage) -> tuple[str, str, bool]:
    """The study's experiment and parent run; True when this process made the parent run (so it does the
    rest of init). Of the workers that find no usable parent, the one that claims it first makes it; the
    others wait until its id is recorded in the study."""
    experiment_id = tracker.experiment(spec.name)
    while True:
        known = study.user_attrs.get(PARENT_RUN_ATTR)
        if usable_parent(tracker, known, experiment_id):
            return experiment_id, known, False
        # One claim per parent to replace: the first one ever ("none"), or one lost with its tracking store.
        if claim(storage, spec.name, f"parent.{known or 'none'}").won:
            if study.user_attrs.get(PARENT_RUN_ATTR) != known:
                continue  # the previous claimant recorded one after all: use it
            run = tracker.client.create_run(experiment_id, run_name="study",
                                            tags={**tracker.base_tags, "harness.role": "study"})
            study.set_user_attr(PARENT_RUN_ATTR, run.info.run_id)
            return experiment_id, run.info.run_id, True
        time.sleep(PARENT_POLL_SECONDS)


def init(session, spec: StudySpec, data: Prepared, inputs: list, storage_label: str,
         warm_source: optuna.Study | None, echo: Callable[[str], None]) -> list[reference.Baseline]:
    """The rest of init, by the process that made the parent run: the resolved study file, the data and
    where the trials live on the parent run; the baselines (before the trials, so their numbers are the bar
    to watch); warm starts first in the queue. Returns the baselines."""
    study, tracker, parent_id = session.study, session.tracker, session.parent_id
    tracker.client.log_text(parent_id, spec.to_yaml(), "study.yaml")
    tracker.set_tags(parent_id, {"mlflow.note.content": spec.description, "harness.task": data.task,
                                 "harness.data_digest": data.digest, "harness.seed": str(spec.study.seed),
                                 "harness.optuna_storage": storage_label})
    tracker.log_inputs(parent_id, inputs)
    label_parent(spec, data, tracker, session.experiment_id, parent_id, echo)
    fitted = (reference.ensure_baselines(spec, data, tracker, session.experiment_id, parent_id, echo)
              if spec.baselines else [])
    enqueue_from_file(study, spec, echo)
    if warm_source is not None:
        enqueue_from_study(study, spec, warm_source, echo)
    return fitted


def crown_round(study: optuna.Study) -> int:
    """Which crown is due: one per spent budget, named by the trials that count when it is spent."""
    return budget.finished(study.get_trials(deepcopy=False))


def crown_pending(study: optuna.Study, storage, name: str) -> bool:
    """A crown was claimed for the current round but never finished (its worker died mid-registration)."""
    done = study.user_attrs.get(CROWNED_ATTR) or {}
    rnd = crown_round(study)
    return done.get("trials") != rnd and claimed(storage, name, f"crown.{rnd}")


def crowned_line(study: optuna.Study) -> str | None:
    """What the last crown decided, when it crowned the current round."""
    done = study.user_attrs.get(CROWNED_ATTR) or {}
    return done.get("message") if done.get("trials") == crown_round(study) else None


def crown_once(study: optuna.Study, spec: StudySpec, data: Prepared, tracker: Tracker, experiment_id: str,
               parent_id: str, storage, echo: Callable[[str], None],
               fitted: list[reference.Baseline] | None = None) -> StudyResult | None:
    """Crown the study unless this round is crowned already or another live worker is crowning it (then
    None, and a line says so). Call it when no trial runs."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if running:
        raise HarnessError(f"study {spec.name}: {len(running)} trial(s) still running (trial "
                           f"{', '.join(str(t.number) for t in running)}); the last worker to finish crowns the study")
    rnd = crown_round(study)
    line = crowned_line(study)
    if line is not None:
        echo(f"study {spec.name}: its {rnd} trials are done and so is its crown: {line} (to run more, raise "
             "--trials)")
        return None
    won = claim(storage, spec.name, f"crown.{rnd}")
    if not won.won:
        echo(f"study {spec.name}: {won.owner} is crowning it")
        return None
    if won.attempt:
        echo(f"study {spec.name}: finishing the crown that an earlier worker began and did not finish")
    drawing = visualize.draw_beside(study, objectives.objective_names(spec), spec.study.metric)
    try:
        try:
            result = crown(study, spec, data, tracker, experiment_id, parent_id, echo)
        except HarnessError as err:  # nothing to crown (no trial completed): done too, not to be tried again
            study.set_user_attr(CROWNED_ATTR, {"trials": rnd, "version": None, "message": str(err)})
            raise
        if fitted is None and spec.baselines:
            fitted = reference.ensure_baselines(spec, data, tracker, experiment_id, parent_id, echo)
        result.baselines = fitted or []
        result.vs_baselines = reference.comparison_line(result.test, spec.study.metric, data.task, result.baselines)
        if result.vs_baselines:
            tracker.set_tags(parent_id, {"harness.vs_baselines": result.vs_baselines})
        after_crown(study, spec, data, tracker, result, echo, drawing)
    finally:
        drawing.close()
    tracker.finish(parent_id, "FINISHED")
    study.set_user_attr(CROWNED_ATTR, {"trials": rnd, "version": result.decision.version,
                                       "message": result.decision.message})
    return result


def stopped(study: optuna.Study, tracker: Tracker, parent_id: str, err: BaseException) -> None:
    """After Ctrl-C or SIGTERM the parent run is KILLED `interrupted`, after an error FAILED with it, unless
    other workers still run trials (then it stays RUNNING for them); the same command resumes the study."""
    if study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        return
    if isinstance(err, KeyboardInterrupt):
        tracker.finish(parent_id, "KILLED", "interrupted")
    else:
        tracker.finish(parent_id, "FAILED", f"{type(err).__name__}: {err}")

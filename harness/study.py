"""The Optuna study: the only room where Optuna, torch and MLflow meet.

    spec -> data (once per process) -> study.optimize(objective) -> best trial scored on test -> registry
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import optuna
import torch

from harness import baselines as reference
from harness import objectives, pareto
from harness.config import MINIMIZED, StudySpec, load_spec
from harness.data import Prepared, prepare
from harness.distributions import IntDist, values_of
from harness.errors import HarnessError
from harness.lineage import dataset_inputs
from harness.metrics import CLASSIFICATION, REGRESSION, score_predictions
from harness.models import build_model, count_parameters
from harness.packaging import log_model
from harness.predictor import Predictor
from harness.registry import Decision, load_model, promote
from harness.samplers import make_pruner, make_sampler, multi_objective, planned_trials
from harness.space import sample
from harness.tracking import EpochLog, Tracker, default_tracking_uri
from harness.train import evaluate, fit, make_loss
from harness.warmstart import check_enqueue, enqueue_from_file, enqueue_from_study, load_source_study

PARENT_RUN_ATTR = "mlflow_parent_run_id"


@dataclass
class StudyResult:
    name: str
    metric: str
    states: dict[str, int]
    best_trial: int
    best_val: dict[str, float]
    test: dict[str, float]
    decision: Decision
    model_name: str
    alias: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    notes: list[str] = field(default_factory=list)
    pareto_front: list[int] | None = None  # multi-objective: the trial numbers on the front
    baselines: list[reference.Baseline] = field(default_factory=list)
    vs_baselines: str | None = None  # the champion's test metric against the best baseline's
    images: bool = False  # the model takes arrays of images rather than a table


def journal_path(storage: str | None, name: str) -> Path:
    return Path(storage) if storage else Path("mlruns") / "optuna" / f"{name}.journal"


def optuna_storage(storage: str | None, name: str):
    """A database URL as given; otherwise a journal file (default `mlruns/optuna/<study>.journal`)."""
    if storage and "://" in storage:
        return storage
    path = journal_path(storage, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


def earlier_study(name: str, storage: str | None) -> optuna.Study:
    """The study `--warm-start-from NAME` points at, in the same storage; never creates one."""
    if storage and "://" in storage:
        return load_source_study(name, storage, storage)
    path = journal_path(storage, name)
    if not path.is_file():
        raise HarnessError(f"--warm-start-from {name}: no study journal at {path}; run that study first, "
                           "or give the --storage that holds it")
    return load_source_study(name, optuna_storage(storage, name), str(path))


def check_metric(spec: StudySpec) -> str:
    """The bare name of the study metric, checked (with any other objectives) against the task's metrics."""
    name = spec.study.metric.split("/", 1)[1]
    known = (REGRESSION if spec.task == "regression" else CLASSIFICATION) + ("loss",)
    objectives.check_objectives(spec, known)  # first: the metric may be the objectives' first val/ one
    if name not in known:
        raise HarnessError(f"study.metric: {spec.study.metric} is not a {spec.task} metric; "
                           f"choose one of {', '.join('val/' + k for k in known)}")
    return name


def _input_description(data: Prepared) -> str:
    if data.input_shape:
        return "images of " + "x".join(map(str, data.input_shape)) + " (channels x height x width)"
    return f"{data.n_features} features after encoding"


def check_model_fits_data(spec: StudySpec, data: Prepared) -> None:
    """Families and augmentations that cannot work on this kind of data fail here, before any trial."""
    families = set(values_of(spec.model.family))
    if data.input_shape is None and "cnn" in families:
        raise HarnessError("model.family: cnn needs images (data.kind: images, an .npz file or an image folder); "
                           "use linear or mlp for a table")
    augment = spec.train.augment
    if data.input_shape is None and (any(values_of(augment.shift)) or any(values_of(augment.flip))):
        raise HarnessError("train.augment: shift and flip move pixels, and this data is a table; remove them "
                           "(noise works on tables too)")
    kernel = spec.model.kernel_size
    sizes = range(kernel.low, kernel.high + 1, kernel.step) if isinstance(kernel, IntDist) else values_of(kernel)
    if "cnn" in families and any(k % 2 == 0 for k in sizes):
        raise HarnessError(f"model.kernel_size: use odd sizes (3, 5, ...) so padding keeps the image size; "
                           f"got {spec.model.kernel_size}")


def run_study(spec: StudySpec | str | Path, *, trials: int | None = None, timeout: float | None = None,
              overrides: list[str] = (), storage: str | None = None, tracking_uri: str | None = None,
              warm_start_from: str | None = None, echo: Callable[[str], None] = print) -> StudyResult:
    """Run (or resume) a study from a study file or a StudySpec; returns what the summary prints.

    `warm_start_from` names an earlier study in the same Optuna storage whose best trials go first.
    """
    if not isinstance(spec, StudySpec):
        spec = load_spec(spec, overrides)
    updates = {k: v for k, v in {"trials": trials, "timeout": timeout}.items() if v is not None}
    spec = spec.model_copy(update={"study": spec.study.model_copy(update=updates)})
    split = spec.data.split
    # Everything a user can get wrong is checked before the first write to MLflow or Optuna.
    try:
        data = prepare(spec.data.source, spec.data.target, spec.task, split.val, split.test, split.seed,
                       spec.train.device, spec.data.target_transform, kind=spec.data.kind, text=spec.data.text)
        spec = spec.resolved(data.task)
        metric = check_metric(spec)
        for loss in values_of(spec.train.loss):
            data.outputs_for(loss)  # a loss unfit for the data (bce on three classes) fails before any run
        check_model_fits_data(spec, data)
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
         f"{_input_description(data)}, device {data.device}")
    for note in data.notes:
        echo(f"  note: {note}")

    tracker = Tracker(tracking_uri or default_tracking_uri(), spec.name, str(data.device))
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
    try:
        study.optimize(objective, n_trials=n_trials, timeout=spec.study.timeout,
                       catch=(Exception,), callbacks=[progress_printer(echo, spec)])
    except BaseException:
        tracker.finish(parent_id, "KILLED", "interrupted")
        raise
    result = crown(study, spec, data, tracker, experiment_id, parent_id, echo)
    result.baselines = fitted
    result.vs_baselines = reference.comparison_line(result.test, spec.study.metric, data.task, fitted)
    if result.vs_baselines:
        tracker.set_tags(parent_id, {"harness.vs_baselines": result.vs_baselines})
    tracker.finish(parent_id, "FINISHED")
    return result


class Objective:
    """objective(trial): sample, build, train with report/should_prune each epoch, return the val metric
    (or, in a multi-objective study, one value per objective, with no pruning)."""

    def __init__(self, spec: StudySpec, data: Prepared, tracker: Tracker, experiment_id: str, parent_id: str,
                 metric: str, inputs: list = ()):
        self.spec, self.data, self.tracker, self.metric = spec, data, tracker, metric
        self.experiment_id, self.parent_id, self.inputs = experiment_id, parent_id, list(inputs)
        self.prune = not multi_objective(spec)  # Optuna cannot prune a multi-objective study

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        spec, data = self.spec, self.data
        params = sample(spec, trial)
        # One seed per trial, from the study's: weight init, dropout and batch order repeat exactly.
        seed = spec.study.seed + trial.number
        run_id = self.tracker.start_trial(self.experiment_id, self.parent_id, trial.number, params,
                                          tags={"harness.seed": str(seed), "harness.data_digest": data.digest})
        trial.set_user_attr("mlflow_run_id", run_id)
        self.tracker.log_inputs(run_id, self.inputs)
        epochs = EpochLog(self.tracker.client, run_id)

        def on_epoch(epoch: int, scores: dict) -> None:
            epochs.add(scores, step=epoch)
            if not self.prune:
                return
            trial.report(scores[spec.study.metric], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}: {spec.study.metric} {scores[spec.study.metric]:.4g}")

        try:
            torch.manual_seed(seed)
            model = build_model(params, data.n_features, data.outputs_for(params["loss"]),
                                data.input_shape).to(data.device)
            result = fit(model, data, params, epochs=spec.train.epochs, patience=spec.train.early_stopping.patience,
                         metric=self.metric, minimize=spec.study.direction == "minimize", seed=seed, on_epoch=on_epoch)
            epochs.flush()
            loss_fn = make_loss(params["loss"], data.task, params.get("label_smoothing", 0.0))
            val = evaluate(model, data, "val", loss_fn, full=True)
            final = {f"val/{k}": v for k, v in val.items()}
            final.update({"best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                          "n_parameters": count_parameters(model)})
            final.update(objectives.measure(spec, model, data.X["val"]))
            # One step past the last epoch, so the run's latest (shown) values are the restored best epoch's.
            self.tracker.log_metrics(run_id, final, step=result.epochs_run)
            with self.tracker.active(run_id):
                trial.set_user_attr("model_uri", log_model(Predictor.from_training(data, model, params), data.raw["train"]))
            self.tracker.finish(run_id, "FINISHED")
            return objectives.values(spec, final)
        except optuna.TrialPruned as pruned:
            epochs.flush()
            self.tracker.finish(run_id, "KILLED", str(pruned))
            raise
        except BaseException as err:
            epochs.pending and epochs.flush()
            reason = f"{type(err).__name__}: {err}"
            trial.set_user_attr("fail_reason", reason)
            self.tracker.finish(run_id, "FAILED", reason)
            raise


def progress_printer(echo: Callable[[str], None], spec: StudySpec):
    started = [time.monotonic()]
    metric, names = spec.study.metric, objectives.objective_names(spec)

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        took = time.monotonic() - started[0]
        started[0] = time.monotonic()
        state = trial.state.name
        if state == "COMPLETE" and len(names) > 1:
            shown = "  ".join(f"{n} {v:.4g}" for n, v in zip(names, trial.values))
            detail = f"{shown}  (front: {len(study.best_trials)} trials)"
        elif state == "COMPLETE":
            best = study.best_trial
            detail = f"{metric} {trial.value:.4g}  (best {best.value:.4g}, trial {best.number})"
        elif state == "PRUNED":
            detail = "pruned"
        else:
            detail = trial.user_attrs.get("fail_reason", "failed")
        echo(f"  trial {trial.number:>3} {state:<8} {detail}  [{took:.1f}s]")

    return report


def crown(study: optuna.Study, spec: StudySpec, data: Prepared, tracker: Tracker, experiment_id: str,
          parent_id: str, echo: Callable[[str], None]) -> StudyResult:
    """Score the best trial once on the test split, record it, and offer it to the registry."""
    states: dict[str, int] = {}
    for t in study.trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and "model_uri" in t.user_attrs]
    if not completed:
        tracker.finish(parent_id, "FAILED", "no trial completed")
        raise HarnessError(f"study {spec.name}: no trial completed ({states}); see the failed runs' "
                           "harness.reason tag in the MLflow UI for why")
    front = None
    if multi_objective(spec):
        best, front = record_front(study, spec, tracker, parent_id, echo)
    else:
        best = study.best_trial
    run_id, model_uri = best.user_attrs["mlflow_run_id"], best.user_attrs["model_uri"]

    def score_on_test(uri: str) -> dict[str, float]:
        model = load_model(uri)
        return score_predictions(model.predict(data.raw["test"]), data.labels["test"], data.task, data.classes)

    test = {f"test/{k}": v for k, v in score_on_test(model_uri).items()}
    best_val = {k: v for k, v in tracker.client.get_run(run_id).data.metrics.items() if k.startswith("val/")}
    tracker.log_metrics(run_id, test)
    tracker.log_metrics(parent_id, {**best_val, **test, "best_trial": best.number})
    tracker.set_tags(parent_id, {"harness.best_trial": str(best.number), "harness.best_run_id": run_id})

    test_metric = "test/" + spec.study.metric.split("/", 1)[1]
    if test_metric not in test:
        test_metric = "test/" + ("rmse" if data.task == "regression" else "accuracy")
    decision = promote(
        spec.registry.name, spec.registry.alias, model_uri, run_id, test[test_metric], test_metric,
        minimize=test_metric.split("/")[1] in MINIMIZED,
        score_holder=lambda uri: score_on_test(uri)[test_metric.split("/", 1)[1]],
        tags={"harness.study": spec.name, "harness.trial": str(best.number), "harness.run_id": run_id,
              test_metric: f"{test[test_metric]:.6g}"},
    )
    return StudyResult(spec.name, spec.study.metric, states, best.number, best_val, test, decision,
                       spec.registry.name, spec.registry.alias, tracker.uri, experiment_id, parent_id, data.notes,
                       front, images=data.input_shape is not None)


def record_front(study: optuna.Study, spec: StudySpec, tracker: Tracker, parent_id: str,
                 echo: Callable[[str], None]) -> tuple[optuna.trial.FrozenTrial, list[int]]:
    """Log the Pareto front on the parent run; return the champion (the front's best primary metric)."""
    names, directions = objectives.objective_names(spec), objectives.directions(spec)
    trials = pareto.front(study)
    best = pareto.champion(trials, names, directions, spec.study.metric)
    rows = pareto.rows(trials, names)
    tracker.client.log_text(parent_id, pareto.as_json(rows, names, directions, spec.study.metric, best.number),
                            "pareto_front.json")
    tracker.client.log_text(parent_id, pareto.as_csv(rows, names), "pareto_front.csv")
    tracker.log_metrics(parent_id, {"pareto_front_size": len(trials)})
    tracker.set_tags(parent_id, {"harness.pareto_front": ",".join(str(t.number) for t in trials)})
    echo(f"pareto front: {len(trials)} trials ({', '.join(str(t.number) for t in trials)}); the champion is "
         f"trial {best.number}, the best {spec.study.metric} among them (pareto_front.json on the parent run)")
    return best, [t.number for t in trials]

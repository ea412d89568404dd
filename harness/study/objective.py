"""objective(trial) in the canonical Optuna shape: sample, build, train with report/should_prune each epoch,
log the trial's run, return the validation metric.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import optuna
import torch

from harness.data.prepare import Prepared
from harness.nn.loop import TrainingDiverged, evaluate, fit
from harness.nn.losses import make_loss, output_width
from harness.nn.models import build_model, count_parameters
from harness.record import plots, tree
from harness.record.tracking import EpochLog, Tracker
from harness.search import objectives
from harness.search.samplers import multi_objective
from harness.search.space import sample
from harness.serve.ensemble import EnsemblePredictor, prediction_values
from harness.serve.packaging import log_model
from harness.serve.predictor import Predictor
from harness.signals import checkpoint
from harness.spec.schema import StudySpec
from harness.study.crossval import FoldSets, OneAtATime, cross_validate
from harness.study.ensemble import save_selection, wants_ensemble
from harness.study.fold_pool import FoldPool, fold_workers

# What may end one trial and let the study go on: training that diverged, and a model too large for the
# device. Anything else is a bug in the harness and stops the study with its traceback.
EXPECTED_TRIAL_FAILURES = (TrainingDiverged, torch.OutOfMemoryError, MemoryError)


class Objective:
    """objective(trial): sample, build, train with report/should_prune each epoch (each fold, under
    cross-validation), return the val metric (or, in a multi-objective study, one value per objective,
    with no pruning)."""

    def __init__(self, spec: StudySpec, data: Prepared, tracker: Tracker, experiment_id: str, parent_id: str,
                 metric: str, inputs: list = (), study_workers: int = 1):
        self.spec, self.data, self.tracker, self.metric = spec, data, tracker, metric
        self.experiment_id, self.parent_id, self.inputs = experiment_id, parent_id, list(inputs)
        # Optuna cannot prune a multi-objective study; without a pruner a report is a journal write for nothing.
        self.prune = not multi_objective(spec) and spec.study.pruner != "none"
        # Logged every epoch (the rest once, for the kept weights): each metric row costs the store ~0.3 ms.
        self.every_epoch = ("train/loss", "train/lr", "val/loss", spec.study.metric)
        self.folds = FoldSets(spec.study.folds, spec.data.split.seed) if spec.study.folds > 1 else None
        size = fold_workers(spec, str(data.device), study_workers)
        self.fit_folds = FoldPool(data, self.folds, size) if size > 1 else OneAtATime()
        # While the folds fit in processes of their own, this thread writes the curves of those already
        # taken (one fit in this process would only compete with it for the interpreter).
        self.curve_writer = ThreadPoolExecutor(1, thread_name_prefix="harness-curves") if size > 1 else None

    def close(self) -> None:
        """Stop the fold processes and the curve writer, if any were started."""
        self.fit_folds.close()
        if self.curve_writer is not None:
            self.curve_writer.shutdown(wait=True)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        spec = self.spec
        params = sample(spec, trial)
        data = self.data.variant(params["numeric"])
        # One seed per trial, from the study's: weight init, dropout and batch order repeat exactly.
        seed = spec.study.seed + trial.number
        run_id = self.tracker.start_trial(self.experiment_id, self.parent_id, trial.number, params,
                                          tags={"harness.seed": str(seed), "harness.data_digest": data.digest})
        trial.set_user_attr("mlflow_run_id", run_id)
        self.tracker.log_inputs(run_id, self.inputs)
        epochs = EpochLog(self.tracker.client, run_id, self.curve_writer)
        history: list[dict] = []  # the curves, kept for the trial's plot (a pruned trial's too)

        def on_epoch(epoch: int, scores: dict) -> None:
            checkpoint()  # Ctrl-C or SIGTERM ends the trial here, between epochs, never inside a store call
            history.append(scores)
            shown = tree.curves({k: scores[k] for k in self.every_epoch}, params.get("schedule", "none"))
            epochs.add(shown, step=epoch)
            if not self.prune:
                return
            trial.report(scores[spec.study.metric], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}: {spec.study.metric} {scores[spec.study.metric]:.4g}")

        try:
            if self.folds is not None:
                shown = self.fold_curves(params.get("schedule", "none"))

                def on_fold(index: int, history: list[dict]) -> None:
                    for epoch, scores in enumerate(history):
                        epochs.add(shown(scores), step=epoch)
                    epochs.send()

                scored = cross_validate(spec, data, self.folds(data), params, seed, self.metric, on_fold,
                                        trial if self.prune else None, self.fit_folds)
                epochs.flush()
                return self.conclude(trial, run_id, {**scored.metrics, **scored.summary}, scored.predictor,
                                     scored.out_of_fold)
            torch.manual_seed(seed)
            model = build_model(params, data.n_features, output_width(data.task, data.n_classes, params["loss"]),
                                data.input_shape, data.n_numeric, data.output_range).to(data.device)
            result = fit(model, data, params, epochs=spec.train.epochs, patience=spec.train.early_stopping.patience,
                         metric=self.metric, minimize=spec.study.direction == "minimize", seed=seed, on_epoch=on_epoch)
            epochs.flush()
            loss_fn = make_loss(params["loss"], data.task, params.get("label_smoothing", 0.0))
            val = evaluate(model, data, "val", loss_fn, full=True)
            final = {f"val/{k}": v for k, v in val.items()}
            final.update({"best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                          "n_parameters": count_parameters(model)})
            final.update(objectives.measure(spec, model, data.X["val"]))
            final["train/loss"] = history[result.best_epoch]["train/loss"]
            plots.log_trial_curves(self.tracker, run_id, history, spec.study.metric, result.best_epoch)
            predictor = Predictor.from_training(data, model, params)
            # What the ensemble selects on: the validation rows' predictions, from the tensors already prepared.
            selection = (prediction_values(predictor.predict_prepared(data.X["val"]), data.task, data.classes)
                         if wants_ensemble(spec) else None)
            return self.conclude(trial, run_id, final, predictor, selection)
        except optuna.TrialPruned as pruned:
            epochs.flush()
            plots.log_trial_curves(self.tracker, run_id, history, spec.study.metric, None)
            self.tracker.finish(run_id, "KILLED", str(pruned), name=tree.trial_name(trial.number, "pruned"))
            raise
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (harness.errors.Interrupted): not the trial's fault
            epochs.unwritten and epochs.flush()
            self.tracker.finish(run_id, "KILLED", "interrupted", name=tree.trial_name(trial.number, "interrupted"))
            raise
        except BaseException as err:
            epochs.unwritten and epochs.flush()
            reason = f"{type(err).__name__}: {err}"
            trial.set_user_attr("fail_reason", reason)
            self.tracker.finish(run_id, "FAILED", reason, name=tree.trial_name(trial.number, "failed"))
            raise

    def conclude(self, trial: optuna.Trial, run_id: str, final: dict, predictor: Predictor | EnsemblePredictor,
                 selection) -> float | tuple[float, ...]:
        """Log the trial's final metrics and model, and what the ensemble champion selects on: its
        predictions of the validation rows (`selection`: out-of-fold ones under cross-validation)."""
        # The summary under names of its own (the curves are epoch/...), so no curve gets a point past
        # its last epoch and the table's latest values are the restored best epoch's.
        self.tracker.log_metrics(run_id, final)
        model_uri = log_model(self.tracker.client, self.experiment_id, run_id, predictor, self.data.raw["train"])
        trial.set_user_attr("model_uri", model_uri)
        if wants_ensemble(self.spec):
            save_selection(self.tracker, run_id, selection)
        self.tracker.finish(run_id, "FINISHED")
        return objectives.values(self.spec, final)

    def fold_curves(self, schedule: str) -> Callable[[int, dict], dict]:
        """Cross-validation: a fold's epoch (`fold<i>/val/rmse`, ...) as curves `epoch/fold<i>/...`, the
        same names a single fit logs every epoch, under the fold's prefix."""
        def shown(scores: dict) -> dict:
            kept = {k: v for k, v in scores.items() if k.split("/", 1)[1] in self.every_epoch}
            return tree.curves(kept, schedule)
        return shown

"""objective(trial) in the canonical Optuna shape: sample, build, train with report/should_prune each epoch,
log the trial's run, return the validation metric. And the line printed as each trial ends.
"""

from __future__ import annotations

import time
from typing import Callable

import optuna
import torch

from harness.data.prepare import Prepared
from harness.nn.loop import evaluate, fit
from harness.nn.losses import make_loss, output_width
from harness.nn.models import build_model, count_parameters
from harness.record.tracking import EpochLog, Tracker
from harness.search import objectives
from harness.search.samplers import multi_objective
from harness.search.space import sample
from harness.serve.ensemble import EnsemblePredictor, prediction_values
from harness.serve.packaging import log_model
from harness.serve.predictor import Predictor
from harness.spec.schema import StudySpec
from harness.study.crossval import FoldSets, cross_validate
from harness.study.ensemble import save_selection, wants_ensemble


class Objective:
    """objective(trial): sample, build, train with report/should_prune each epoch (each fold, under
    cross-validation), return the val metric (or, in a multi-objective study, one value per objective,
    with no pruning)."""

    def __init__(self, spec: StudySpec, data: Prepared, tracker: Tracker, experiment_id: str, parent_id: str,
                 metric: str, inputs: list = ()):
        self.spec, self.data, self.tracker, self.metric = spec, data, tracker, metric
        self.experiment_id, self.parent_id, self.inputs = experiment_id, parent_id, list(inputs)
        self.prune = not multi_objective(spec)  # Optuna cannot prune a multi-objective study
        self.folds = FoldSets(spec.study.folds, spec.data.split.seed) if spec.study.folds > 1 else None

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
        epochs = EpochLog(self.tracker.client, run_id)

        def on_epoch(epoch: int, scores: dict) -> None:
            epochs.add(scores, step=epoch)
            if not self.prune:
                return
            trial.report(scores[spec.study.metric], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}: {spec.study.metric} {scores[spec.study.metric]:.4g}")

        try:
            if self.folds is not None:
                scored = cross_validate(spec, data, self.folds(data), params, seed, self.metric,
                                        lambda epoch, scores: epochs.add(scores, step=epoch),
                                        trial if self.prune else None)
                return self.conclude(trial, run_id, epochs, {**scored.metrics, **scored.summary},
                                     scored.predictor, scored.out_of_fold)
            torch.manual_seed(seed)
            model = build_model(params, data.n_features, output_width(data.task, data.n_classes, params["loss"]),
                                data.input_shape, data.n_numeric, data.output_range).to(data.device)
            result = fit(model, data, params, epochs=spec.train.epochs, patience=spec.train.early_stopping.patience,
                         metric=self.metric, minimize=spec.study.direction == "minimize", seed=seed, on_epoch=on_epoch)
            loss_fn = make_loss(params["loss"], data.task, params.get("label_smoothing", 0.0))
            val = evaluate(model, data, "val", loss_fn, full=True)
            final = {f"val/{k}": v for k, v in val.items()}
            final.update({"best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                          "n_parameters": count_parameters(model)})
            final.update(objectives.measure(spec, model, data.X["val"]))
            return self.conclude(trial, run_id, epochs, final, Predictor.from_training(data, model, params))
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

    def conclude(self, trial: optuna.Trial, run_id: str, epochs: EpochLog, final: dict,
                 predictor: Predictor | EnsemblePredictor, selection=None) -> float | tuple[float, ...]:
        """Log the trial's final metrics and model, and what the ensemble champion selects on: its
        predictions of the validation rows (`selection`: out-of-fold ones under cross-validation)."""
        epochs.flush()
        # One step past the last epoch, so the run's latest (shown) values are the restored best epoch's.
        self.tracker.log_metrics(run_id, final, step=int(final["epochs_run"]))
        trial.set_user_attr("model_uri", log_model(self.tracker.client, run_id, predictor, self.data.raw["train"]))
        if wants_ensemble(self.spec):
            if selection is None:
                selection = prediction_values(predictor.predict(self.data.raw["val"]), self.data.task,
                                              self.data.classes)
            save_selection(self.tracker, run_id, selection)
        self.tracker.finish(run_id, "FINISHED")
        return objectives.values(self.spec, final)


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

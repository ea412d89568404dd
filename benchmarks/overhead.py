"""Item 2: what a study costs beyond its training, side by side.

    .venv/bin/python benchmarks/overhead.py [--trials 30] [--repeats 2]

30 trials x 3 epochs x 5,000 training rows (synthetic, 32 features; MLP, lr, width and depth searched;
TPE, no pruner, no baselines), three ways:
- bare: Optuna with in-memory storage, no tracking: `prepare`, then sample -> build -> `fit` per trial;
- harness: `harness.run_study` with everything on (Optuna journal, parent and child runs, per-epoch
  metrics, the model logged per trial, the champion scored on test and registered), on an MLflow
  store created beforehand (creating a store is a one-off cost, reported on its own line);
- callback: the bare study plus optuna-integration's `MLflowCallback` (one run per trial, params and
  the value, no model): what the integration costs, for reference.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import optuna
import torch
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from common import best, interleaved, print_rows, row, save, synthetic_csv

from harness.data.prepare import prepare
from harness.nn.loop import fit
from harness.nn.losses import output_width
from harness.nn.models import build_model
from harness.search.space import sample
from harness.spec.schema import build_spec

TRAIN_ROWS = 5000
SPLIT = {"val": 0.15, "test": 0.15, "seed": 0}


def study_spec(csv: Path, name: str, trials: int):
    raw = {"name": name, "task": "regression", "baselines": False,
           "data": {"source": str(csv), "target": "target", "split": SPLIT},
           "model": {"family": "mlp", "n_layers": {"int": [1, 2]}, "hidden": {"choice": [64, 128]},
                     "activation": "relu"},
           "train": {"loss": "mse", "optimizer": "adam", "lr": {"float": [1e-4, 1e-2], "log": True},
                     "batch_size": 64, "epochs": 3, "early_stopping": {"patience": 3}},
           "study": {"metric": "val/rmse", "trials": trials, "sampler": "tpe", "pruner": "none", "seed": 0}}
    return build_spec(raw, "overhead").resolved("regression")


def bare(spec, callbacks=()) -> optuna.Study:
    """The study with nothing but Optuna in memory and the harness's own data preparation and loop."""
    split = spec.data.split
    data = prepare(spec.data.source, spec.data.target, "regression", split.val, split.test, split.seed, "cpu")

    def objective(trial: optuna.Trial) -> float:
        params = sample(spec, trial)
        seed = spec.study.seed + trial.number
        torch.manual_seed(seed)
        model = build_model(params, data.n_features, output_width("regression", None, params["loss"]))
        return fit(model, data, params, epochs=spec.train.epochs, patience=spec.train.early_stopping.patience,
                   metric="rmse", minimize=True, seed=seed).best_score

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=spec.study.seed))
    study.optimize(objective, n_trials=spec.study.trials, callbacks=list(callbacks))
    return study


def trial_seconds(study: optuna.Study) -> float:
    """Seconds spent inside the study's trials, from Optuna's own start and end times."""
    return sum((t.datetime_complete - t.datetime_start).total_seconds() for t in study.trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import harness
    from optuna_integration.mlflow import MLflowCallback

    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    cwd = os.getcwd()
    os.chdir(work)  # the harness's Optuna journal goes to ./mlruns/optuna
    try:
        csv = synthetic_csv(work / "table.csv", int(TRAIN_ROWS / (1 - SPLIT["val"] - SPLIT["test"])) + 1)
        uri = f"sqlite:///{work / 'mlflow.db'}"
        started = time.perf_counter()
        harness.run_study(study_spec(csv, "warm-up", 1), tracking_uri=uri, echo=lambda line: None)
        store_seconds = time.perf_counter() - started  # a new store's ~65 tables and migrations, once
        counter = iter(range(1000))
        in_trials: dict[str, list[float]] = {"bare": [], "harness": []}  # seconds inside the trials themselves

        def with_harness() -> None:
            name = f"harness-{next(counter)}"
            harness.run_study(study_spec(csv, name, args.trials), tracking_uri=uri, echo=lambda line: None)
            journal = JournalStorage(JournalFileBackend(str(work / "mlruns" / "optuna" / f"{name}.journal")))
            in_trials["harness"].append(trial_seconds(optuna.load_study(study_name=name, storage=journal)))

        def without_tracking() -> None:
            in_trials["bare"].append(trial_seconds(bare(study_spec(csv, "bare", args.trials))))

        def with_callback() -> None:
            callback = MLflowCallback(tracking_uri=uri, metric_name="val/rmse")
            bare(study_spec(csv, "callback", args.trials), [callback])

        seconds = interleaved({"bare": without_tracking, "harness": with_harness, "callback": with_callback},
                              args.repeats)
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)

    wall = {k: best(v) for k, v in seconds.items()}
    per_trial = {k: 1000 * v / args.trials for k, v in wall.items()}
    overhead = wall["harness"] / wall["bare"] - 1
    trial_ms = {k: 1000 * best(v) / args.trials for k, v in in_trials.items()}
    rows = [
        row("2 overhead", f"{args.trials} trials x 3 epochs x 5k rows: bare (in-memory Optuna)",
            f"{wall['bare']:.1f} s ({per_trial['bare']:.0f} ms/trial)", 1.0),
        row("2 overhead", "harness, everything on (runs, epochs, model per trial, crown)",
            f"{wall['harness']:.1f} s ({per_trial['harness']:.0f} ms/trial), {overhead:+.0%}",
            wall["harness"] / wall["bare"], "<= +10%", overhead <= 0.10),
        row("2 overhead", "inside the trials only: harness vs bare (the study's start and crown left out)",
            f"{trial_ms['harness']:.0f} vs {trial_ms['bare']:.0f} ms/trial", trial_ms["harness"] / trial_ms["bare"]),
        row("2 overhead", "bare + optuna-integration MLflowCallback (no model)",
            f"{wall['callback']:.1f} s ({per_trial['callback']:.0f} ms/trial)", wall["callback"] / wall["bare"]),
        row("2 overhead", "creating a new MLflow SQLite store (once per store)", f"{store_seconds:.1f} s"),
    ]
    print_rows(rows)
    save("overhead", rows, {"trials": args.trials, "seconds": seconds, "trial_seconds": in_trials,
                            "store_seconds": store_seconds})


if __name__ == "__main__":
    main()

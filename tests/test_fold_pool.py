"""A trial's folds fitted side by side (study/fold_pool.py): the same numbers as one at a time, fitted in
processes of their own, and no process left behind when the study is stopped."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from fleet import finish, start
from helpers import run_cli

from harness.data.prepare import prepare
from harness.spec.schema import build_spec
from harness.study.crossval import FoldSets, OneAtATime, cross_validate
from harness.study.fold_pool import FoldPool, fold_workers

HOUSES = "experiments/data/house_prices.csv"
PARAMS = {"family": "mlp", "n_layers": 1, "hidden": 16, "activation": "relu", "dropout": 0.1, "norm": "none",
          "residual": False, "per_layer_width": False, "loss": "mse", "optimizer": "adamw", "lr": 1e-2,
          "weight_decay": 1e-4, "schedule": "none", "grad_clip": 0.0, "batch_size": 32, "numeric": "robust"}


def test_folds_fitted_in_fold_processes_give_the_numbers_of_folds_fitted_one_at_a_time() -> None:
    spec = build_spec({"name": "pool", "data": {"source": HOUSES, "target": "price", "numeric": "robust"},
                       "train": {"epochs": 5}, "study": {"folds": 3}}, "pool.yaml")
    data = prepare(HOUSES, "price", "regression", 0.15, 0.15, 0, "cpu")
    fold_sets = FoldSets(3, 0)
    variant = data.variant("robust")
    pool = FoldPool(data, fold_sets, 2)
    try:
        together = cross_validate(spec, variant, fold_sets(variant), PARAMS, 7, "rmse", lambda *_: None, None, pool)
        fitted_by = {f.process for f in pool(spec, variant, fold_sets(variant), [0, 1], PARAMS, 7, "rmse")}
        processes = set(pool.processes)
    finally:
        pool.close()
    alone = cross_validate(spec, variant, fold_sets(variant), PARAMS, 7, "rmse", lambda *_: None, None, OneAtATime())
    np.testing.assert_array_equal(together.out_of_fold, alone.out_of_fold)
    assert together.metrics == alone.metrics and together.summary == alone.summary
    rows = data.raw["test"]
    np.testing.assert_array_equal(together.predictor.predict(rows), alone.predictor.predict(rows))
    assert fitted_by == processes and len(processes) == 2 and os.getpid() not in processes
    assert not any(_alive(p) for p in processes), "close() stops them"


def test_a_fold_process_killed_mid_fit_fails_that_trial_and_the_next_wave_gets_new_ones() -> None:
    spec = build_spec({"name": "pool", "data": {"source": HOUSES, "target": "price", "numeric": "robust"},
                       "train": {"epochs": 3000, "early_stopping": {"patience": 3000}}, "study": {"folds": 3}},
                      "pool.yaml")
    data = prepare(HOUSES, "price", "regression", 0.15, 0.15, 0, "cpu")
    fold_sets = FoldSets(3, 0)
    variant = data.variant("robust")
    pool = FoldPool(data, fold_sets, 2)

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while len(pool.processes) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # in the middle of the fits
        os.kill(pool.processes[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_one)
    killer.start()
    try:
        with pytest.raises(MemoryError, match="a fold process died while fitting folds"):
            list(pool(spec, variant, fold_sets(variant), [0, 1], PARAMS, 7, "rmse"))
        killer.join()
        assert pool.processes == []
        short = spec.model_copy(update={"train": spec.train.model_copy(update={"epochs": 2})})
        fitted = list(pool(short, variant, fold_sets(variant), [0, 1], PARAMS, 7, "rmse"))
        assert [f.epochs_run for f in fitted] == [2, 2] and len(set(pool.processes)) == 2
    finally:
        pool.close()


def test_a_fold_starts_once_the_fold_two_before_it_is_taken_so_a_pruned_trial_starts_no_more() -> None:
    spec = build_spec({"name": "pool", "data": {"source": HOUSES, "target": "price"}, "train": {"epochs": 2},
                       "study": {"folds": 4}}, "pool.yaml")
    data = prepare(HOUSES, "price", "regression", 0.15, 0.15, 0, "cpu")
    fold_sets = FoldSets(4, 0)
    variant = data.variant("standard")
    pool = FoldPool(data, fold_sets, 2)
    try:
        fits = pool(spec, variant, fold_sets(variant), [0, 1, 2, 3], PARAMS, 7, "rmse")
        first = next(fits)
        assert pool.started == 2  # folds 0 and 1: fold 2 waits until fold 0 has been taken
        second = next(fits)
        assert pool.started == 3
        fits.close()  # pruned after fold 1
        assert pool.started == 3
        again = list(pool(spec, variant, fold_sets(variant), [0, 1], PARAMS, 7, "rmse"))
        assert pool.started == 5
    finally:
        pool.close()
    alone = list(OneAtATime()(spec, variant, fold_sets(variant), [0, 1], PARAMS, 7, "rmse"))
    for fitted, expected in zip([first, second], alone):
        assert fitted.history == expected.history
    assert [f.history for f in again] == [f.history for f in alone]


def test_the_fold_processes_share_the_cores_with_the_studys_workers_and_threads() -> None:
    def spec(**study):
        return build_spec({"name": "w", "data": {"source": HOUSES, "target": "price"}, "study": study}, "w.yaml")

    from harness.study.workers import cores

    assert fold_workers(spec(folds=5), "cpu", 1) == min(5, cores())
    assert fold_workers(spec(folds=5), "cpu", cores()) == 1  # a worker per core already
    assert fold_workers(spec(folds=1), "cpu", 1) == 1
    assert fold_workers(spec(folds=5, fold_workers=3), "cpu", 1) == 3
    assert fold_workers(spec(folds=2, fold_workers=4), "cpu", 1) == 2  # never more than the folds
    assert fold_workers(spec(folds=5), "cuda:0", 1) == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has exited


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


@pytest.mark.slow
def test_ctrl_c_in_a_cross_validated_study_stops_its_fold_processes(workdir: Path) -> None:
    (workdir / "cv.yaml").write_text(
        "name: cv\ndata: {source: experiments/data/house_prices.csv, target: price}\n"
        "model: {family: mlp, n_layers: 1, hidden: 16}\n"
        "train: {epochs: 2000, batch_size: 16, early_stopping: {patience: 2000}}\n"
        "study: {trials: 2, folds: 4, fold_workers: 2, pruner: none}\nbaselines: false\n")
    proc = start(["study", "cv.yaml"])
    deadline = time.monotonic() + 120
    while len(_children(proc.pid)) < 2:  # the fold processes, once the first trial starts
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout and proc.stdout.read()
        time.sleep(0.2)
    folds = _children(proc.pid)
    proc.send_signal(signal.SIGINT)  # noted: the trial would end after this wave of folds
    time.sleep(0.5)  # two signals at once reach Python's handler as one
    proc.send_signal(signal.SIGINT)  # the second: stop now, in the middle of the folds' wave
    code, out = finish(proc)
    assert code == 130 and "Traceback" not in out, out
    assert "a trial's folds fit 2 at a time" in out
    time.sleep(0.5)
    assert not [p for p in folds if _alive(p)], "a fold process outlived its study"
    study = optuna.load_study(study_name="cv", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(workdir / "mlruns" / "optuna" / "cv.journal"))))
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert "ok:" in run_cli("check", "cv").stdout

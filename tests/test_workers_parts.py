"""The parts that make many workers safe, each on real stores and real processes: the budget counted
across workers, exactly-once claims, the SQLite store created once, the crown lock of a registered model,
GPUs and threads per worker, and credentials masked."""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from harness.errors import HarnessError, mask_credentials
from harness.search import budget
from harness.study.claims import claim
from harness.study.workers import gpu_assignment, plan_workers, worker_threads


def journal(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


def test_budget_counts_finished_running_and_failed_for_good_not_retried_or_interrupted(tmp_path: Path) -> None:
    storage = journal(tmp_path / "s.journal")
    study = optuna.create_study(study_name="s", storage=storage)
    x = optuna.distributions.FloatDistribution(0, 1)
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
        study.add_trial(optuna.trial.create_trial(state=state, params={"x": 0.5}, distributions={"x": x},
                                                  value=1.0 if state == TrialState.COMPLETE else None))
    interrupted = study.ask()
    interrupted.set_user_attr(budget.INTERRUPTED_ATTR, True)
    study.tell(interrupted, state=TrialState.FAIL)
    died = study.ask()
    died.suggest_float("x", 0, 1)
    storage.set_trial_state_values(storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("s"), died.number), TrialState.FAIL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback(max_retry=2)(study, study.trials[died.number])  # queued again
    running = study.ask()
    # complete + pruned + failed for good + the running one; not the interrupted one, not the one retried
    assert budget.used(study.trials) == 4 and budget.finished(study.trials) == 3
    assert running.number == 5 and running.params == {"x": died.params["x"]}  # the retry, same params

    # Over budget right after taking a trial: it goes back to the queue, unsampled, for a later run.
    extra = study.ask()
    assert budget.over_budget(study.trials, total=4)
    budget.give_back(storage, "s", extra.number)
    assert study.trials[extra.number].state == TrialState.WAITING and budget.used(study.trials) == 4
    assert study.ask().number == extra.number  # the next worker with budget takes it first


CLAIMER = """
import sys, optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from harness.study.claims import claim
won = claim(JournalStorage(JournalFileBackend(sys.argv[1])), "s", "crown.40")
print("won" if won.won else "lost", flush=True)
sys.stdin.read()  # alive until every claimant has claimed: a winner that exited would be replaced, rightly
"""


def test_of_processes_racing_for_a_step_exactly_one_wins_and_a_dead_winner_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "claims.journal")
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outcomes = sorted(p.stdout.readline().strip() for p in procs)
    for p in procs:
        p.communicate(timeout=120)  # closes stdin: each claimant exits
    assert outcomes == ["lost", "lost", "lost", "won"]
    # Every winner above has exited: the step is theirs no more, so the next claimant wins the next attempt.
    again = claim(journal(Path(path)), "s", "crown.40")
    assert again.won and again.attempt == 1
    assert not claim(journal(Path(path)), "s", "crown.40").won  # this process is alive and holds it


def test_worker_i_gets_gpu_i_mod_count_and_an_equal_share_of_the_cores(monkeypatch) -> None:
    assert gpu_assignment(5, ["0", "1"]) == ["0", "1", "0", "1", "0"]
    assert gpu_assignment(3, ["2", "5", "7"]) == ["2", "5", "7"]
    assert gpu_assignment(2, []) == [None, None]
    assert plan_workers(None, 2, ["0", "1", "2"], "auto") == 6  # --workers-per-gpu 2 on three GPUs
    assert plan_workers(4, None, [], "auto") == 4
    with pytest.raises(HarnessError, match="more than --workers-per-gpu 2 x 1 GPU"):
        plan_workers(3, 2, ["0"], "auto")
    with pytest.raises(HarnessError, match="no CUDA device"):
        plan_workers(None, 2, [], "auto")
    monkeypatch.setattr("harness.study.workers.cores", lambda: 8)
    assert [worker_threads(None, n) for n in (1, 2, 3, 16)] == [8, 4, 2, 1]
    assert worker_threads(3, 4) == 3  # train.threads wins


STORE_CREATOR = """
import sys
from harness.record.tracking import ensure_store
ensure_store(sys.argv[1])
"""


@pytest.mark.slow
def test_a_fresh_sqlite_store_opened_by_many_processes_at_once_is_created_once(tmp_path: Path) -> None:
    """Without the lock, two of them race in MLflow's migration (`duplicate column name: step`)."""
    uri = f"sqlite:///{tmp_path}/fresh/mlflow.db"
    procs = [subprocess.Popen([sys.executable, "-c", STORE_CREATOR, uri], stderr=subprocess.PIPE, text=True,
                              env={"MLFLOW_DISABLE_TELEMETRY": "true", "PATH": ""}) for _ in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors


def test_two_studies_crowning_one_registered_model_at_once_decide_one_after_the_other(tmp_path: Path) -> None:
    """Both read the holder, both beat it: without the lock the worse one can end up with the alias."""
    from mlflow import MlflowClient

    from harness.serve.registry import promote

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("race", artifact_location=str(tmp_path / "artifacts"))

    def candidate() -> tuple[str, str]:
        run = client.create_run(experiment).info.run_id
        return run, f"models:/{client.create_logged_model(experiment, name='model', source_run_id=run).model_id}"

    for attempt in range(4):
        name = f"shared-{attempt}"
        (good_run, good_uri), (bad_run, bad_uri) = candidate(), candidate()
        scores = {good_run: 1.0, bad_run: 2.0}  # test rmse: lower is better
        barrier = threading.Barrier(2)
        decisions = {}

        def holder_score(uri_: str) -> float:  # models:/NAME/VERSION -> that version's run's score
            return scores[client.get_model_version(name, uri_.rsplit("/", 1)[1]).run_id]

        def crown(run_id: str, model_uri: str) -> None:
            barrier.wait()
            decisions[run_id] = promote(MlflowClient(uri), name, "champion", model_uri, run_id, scores[run_id],
                                        "test/rmse", minimize=True, score_holder=holder_score,
                                        tags={"harness.study": run_id})

        threads = [threading.Thread(target=crown, args=c) for c in ((good_run, good_uri), (bad_run, bad_uri))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        holder = client.get_model_version_by_alias(name, "champion")
        assert holder.run_id == good_run, decisions
        assert decisions[good_run].promoted, decisions  # it came first, or it beat the one that did
        assert len(client.search_model_versions(f"name = '{name}'")) == 2
        assert not [m for m in client.search_registered_models() if m.name.endswith(".crown-lock")]


def test_passwords_in_uris_are_masked_everywhere_a_message_goes() -> None:
    assert mask_credentials("postgresql+psycopg://harness:s3cr@t@db:5432/optuna") == \
        "postgresql+psycopg://harness:***@db:5432/optuna"
    assert mask_credentials("http://u:pw@host:5000 and https://h/x?token=abc&y=1") == \
        "http://u:***@host:5000 and https://h/x?token=***&y=1"
    assert mask_credentials("sqlite:////tmp/mlruns/mlflow.db") == "sqlite:////tmp/mlruns/mlflow.db"
    assert "s3cret" not in str(HarnessError("cannot reach postgresql://me:s3cret@10.0.0.1/optuna"))


def test_a_transient_store_failure_is_retried_and_a_real_error_is_not() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, TEMPORARILY_UNAVAILABLE

    from harness.record.retry import is_transient, retrying

    assert is_transient(MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE))
    assert not is_transient(MlflowException("model exists", error_code=RESOURCE_ALREADY_EXISTS))
    try:  # Optuna reports a connection cut mid-commit as a StorageInternalError caused by it
        try:
            raise RuntimeError("terminating connection due to administrator command")
        except RuntimeError as cut:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cut
    except optuna.exceptions.StorageInternalError as err:
        assert is_transient(err)
    assert not is_transient(ValueError("Cannot tell a COMPLETE trial."))

    calls, retries = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("connection refused")
        return "done"

    assert retrying(flaky, delays=(0.01, 0.01, 0.01), on_retry=retries.append)() == "done"
    assert len(calls) == 3 and len(retries) == 2 and "retry 1 of 3" in retries[0]
    def down() -> None:
        calls.append(1)
        raise ConnectionError("connection refused")

    def mistaken() -> None:
        calls.append(1)
        raise ValueError("a mistake")

    calls.clear()
    with pytest.raises(ConnectionError):  # still failing after the last try: the caller's trial fails cleanly
        retrying(down, delays=(0.01, 0.01))()
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ValueError):  # not the store's fault: no second try
        retrying(mistaken, delays=(0.01, 0.01))()
    assert len(calls) == 1


def test_a_run_swept_before_its_reaper_got_there_ends_with_the_reapers_reason(tmp_path: Path,
                                                                             monkeypatch) -> None:
    """Worker A fails a dead worker's trial and queues it again; before A ends the trial's run, worker B's
    sweep (a finished trial, its run still open) comes. Within the grace B leaves the run to A; past it
    (A slow, or gone) B ends it with the little it knows, and A, if it comes, ends it again: A's reason wins."""
    from harness.record.tracking import Tracker
    from harness.study import reaper as reaper_module
    from harness.study.reaper import Reaper, StaleTrials

    storage = journal(tmp_path / "s.journal")
    study = optuna.create_study(study_name="s", storage=storage)
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "s", "cpu")
    experiment = tracker.experiment("s")
    parent = tracker.client.create_run(experiment).info.run_id
    trial = study.ask()
    run_id = tracker.start_trial(experiment, parent, trial.number, {})
    kept = tracker.start_trial(experiment, parent, 99, {})  # another trial's open run: not touched
    storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)  # worker A, first of its two writes

    def reaper():
        return Reaper(study, storage, StaleTrials(), tracker, experiment, parent, lambda line: None)

    reaper().sweep()  # worker B, in between, within the grace: the run is A's to end
    assert tracker.client.get_run(run_id).info.status == "RUNNING"
    monkeypatch.setattr(reaper_module, "SWEEP_GRACE_SECONDS", 0.0)  # past the grace
    reaper().sweep()
    swept = tracker.client.get_run(run_id)
    assert swept.info.status == "FAILED" and swept.data.tags["harness.reason"].startswith("its trial ended FAIL")
    reaper().end_runs(trial.number, "its worker died; trial 0 failed and queued again with the same params")
    ended = tracker.client.get_run(run_id)
    assert ended.info.status == "FAILED" and "queued again" in ended.data.tags["harness.reason"]
    assert tracker.client.get_run(kept).info.status == "RUNNING"

    reaper().end_runs(trial.number, "interrupted", status="KILLED")  # only a sweep's ending is ended again
    assert tracker.client.get_run(run_id).data.tags["harness.reason"] == ended.data.tags["harness.reason"]

    # An interrupted trial's run, swept in between, ends KILLED as its own worker would have ended it.
    stopped = study.ask()
    stopped_run = tracker.start_trial(experiment, parent, stopped.number, {})
    storage.set_trial_state_values(stopped._trial_id, state=TrialState.FAIL)
    reaper().sweep()
    reaper().end_runs(stopped.number, "interrupted", status="KILLED")
    run = tracker.client.get_run(stopped_run)
    assert run.info.status == "KILLED" and run.data.tags["harness.reason"] == "interrupted"

"""A study's life: the only room where Optuna, torch and MLflow meet.

    run.py        load and check, then the three phases; a thin orchestrator
    phases.py     init (once: study, parent run, study file, baselines) and crown (once, finished if cut short)
    work.py       the work phase of every worker: trials under the study's shared budget
    workers.py    `--workers N`: N worker processes on this machine, threads and GPUs per worker
    session.py    the stores a process holds while taking part in a study
    claims.py     exactly-once steps among workers (an atomic create in the Optuna storage)
    reaper.py     trials of dead workers: failed, retried, their runs ended FAILED
    owners.py     which process runs a trial, and whether it still runs
    objective.py  objective(trial): sample, build, train, report, log the run
    crossval.py   a trial scored by k folds          fold_pool.py  those folds fitted side by side
    ensemble.py   the ensemble champion              linear_member.py  the linear model it is offered
    crown.py      the best trial scored on test, registered, the alias moved only if better
    recrown.py    `harness crown STUDY`          audit.py  `harness check STUDY` (the Optuna side)
    checks.py     what is checked once the data is loaded, before anything is written
    storage.py    Optuna storage: a database URL (with heartbeats), or a journal file in mlruns/optuna/

The heavy modules load on first use, so the light ones (claims, owners) import without torch or MLflow.
"""

__all__ = ["StudyResult", "run_study"]


def __getattr__(name: str):
    if name == "run_study":
        from harness.study.run import run_study

        return run_study
    if name == "StudyResult":
        from harness.study.crown import StudyResult

        return StudyResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

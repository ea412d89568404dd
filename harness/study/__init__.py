"""A study's life: the only room where Optuna, torch and MLflow meet.

    run.py        load, check, init the study and its parent run, baselines, trials, crown
    objective.py  objective(trial): sample, build, train, report, log the run
    crown.py      the best trial scored on test, registered, the alias moved only if better
    checks.py     what is checked once the data is loaded, before anything is written
    storage.py    Optuna storage: a database URL, or a journal file in mlruns/optuna/
"""

from harness.study.run import run_study

__all__ = ["StudyResult", "run_study"]


def __getattr__(name: str):
    # crown.py imports MLflow (a second or more): only when a caller asks for it, so a study prints its
    # first line before MLflow is loaded.
    if name == "StudyResult":
        from harness.study.crown import StudyResult

        return StudyResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

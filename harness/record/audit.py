"""`harness check`, the MLflow side: do the tracking store and the registry agree with the study's trials?

The trials come in as plain records (the Optuna side reads them: study/audit.py), so this room stays free
of Optuna. Each finding is one line naming the trial, run or version and what is wrong.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

RUN_STATUS_OF = {"COMPLETE": ("FINISHED",), "PRUNED": ("KILLED",), "FAIL": ("FAILED", "KILLED")}


@dataclass
class TrialRecord:
    """What Optuna says of one trial."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    run_id: str | None
    model_uri: str | None


@dataclass
class StudyRecord:
    """What Optuna says of the study: its trials and what it recorded of MLflow."""

    name: str
    parent_id: str | None
    trials: list[TrialRecord]
    model_name: str
    alias: str
    crowned_version: str | None


def audit(client, study: StudyRecord, load_model) -> list[str]:
    """Every mismatch between the study's trials, its runs and the registry; empty when all agree.
    `load_model(uri)` loads a model the way a user does (a failure is a finding, not a crash)."""
    found: list[str] = []
    experiment = client.get_experiment_by_name(study.name)
    if experiment is None:
        return [f"experiment {study.name}: not in the tracking store (check --tracking-uri)"]
    runs = client.search_runs([experiment.experiment_id], max_results=50000)
    parents = [r for r in runs if r.data.tags.get("harness.role") == "study"]
    if len(parents) != 1:
        ids = ", ".join(r.info.run_id for r in parents)
        found.append(f"experiment {study.name}: {len(parents)} parent runs ({ids}), not one")
    if study.parent_id not in {r.info.run_id for r in parents}:
        found.append(f"study {study.name}: its recorded parent run {study.parent_id} is not a parent run of the "
                     "experiment")
    children = [r for r in runs if r.data.tags.get("harness.role") == "trial"]
    by_trial: dict[int, list] = defaultdict(list)
    for run in children:
        by_trial[int(run.data.tags.get("harness.trial", -1))].append(run)
        if run.data.tags.get("mlflow.parentRunId") != study.parent_id:
            found.append(f"run {run.info.run_id} (trial-{run.data.tags.get('harness.trial')}): child of "
                         f"{run.data.tags.get('mlflow.parentRunId')}, not of the study's parent run")
    known = {t.number for t in study.trials}
    for number in sorted(set(by_trial) - known):
        found.append(f"trial {number}: {len(by_trial[number])} run(s) but no such trial in the study")
    for trial in study.trials:
        found += _trial_findings(trial, by_trial.get(trial.number, []), load_model)
    running = [t for t in study.trials if t.state == "RUNNING"]
    parent = next((r for r in parents if r.info.run_id == study.parent_id), None)
    if parent is not None and not running and parent.info.status == "RUNNING":
        found.append(f"parent run {study.parent_id}: RUNNING while no trial runs (the crown was not finished: "
                     f"run `harness crown {study.name}`)")
    # A version registers a trial's run, or the run of an ensemble of trials (register.ensemble).
    ensembles = {r.info.run_id for r in runs if r.data.tags.get("harness.role") == "ensemble"
                 and r.data.tags.get("mlflow.parentRunId") == study.parent_id}
    found += _registry_findings(client, study, {r.info.run_id for r in children} | ensembles)
    return found


def _trial_findings(trial: TrialRecord, runs: list, load_model) -> list[str]:
    found = []
    if trial.state in ("RUNNING", "WAITING"):
        return found
    for run in runs:
        if run.info.status == "RUNNING":
            found.append(f"trial {trial.number} ({trial.state}): run {run.info.run_id} is still RUNNING")
        elif run.info.status not in RUN_STATUS_OF.get(trial.state, ()):
            if run.info.run_id == trial.run_id:
                found.append(f"trial {trial.number} ({trial.state}): its run {run.info.run_id} is {run.info.status}")
    if trial.state != "COMPLETE":
        return found
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if len(finished) != 1:
        found.append(f"trial {trial.number} (COMPLETE): {len(finished)} FINISHED runs, not one")
    if trial.run_id not in {r.info.run_id for r in finished}:
        found.append(f"trial {trial.number} (COMPLETE): its recorded run {trial.run_id} is not a FINISHED run of it")
    if not trial.model_uri:
        found.append(f"trial {trial.number} (COMPLETE): no model recorded")
    else:
        try:
            load_model(trial.model_uri)
        except Exception as err:
            found.append(f"trial {trial.number} (COMPLETE): its model {trial.model_uri} does not load: "
                         f"{str(err).splitlines()[0][:200]}")
    return found


def _registry_findings(client, study: StudyRecord, trial_runs: set[str]) -> list[str]:
    found = []
    try:
        versions = client.search_model_versions(f"name = '{study.model_name}'")
    except MlflowException:
        versions = []
    mine = [v for v in versions if v.tags.get("harness.study") == study.name]
    by_run: dict[str, list[str]] = defaultdict(list)
    for v in mine:
        by_run[v.run_id].append(str(v.version))
        if v.run_id not in trial_runs:
            found.append(f"{study.model_name} version {v.version}: its run {v.run_id} is not a trial (nor an ensemble "
                         f"of trials) of study {study.name}")
    for run_id, numbers in by_run.items():
        if len(numbers) > 1:
            found.append(f"{study.model_name}: versions {', '.join(numbers)} register the same run {run_id} (a crown "
                         "was repeated)")
    if study.crowned_version and str(study.crowned_version) not in {str(v.version) for v in versions}:
        found.append(f"study {study.name}: crowned version {study.crowned_version} of {study.model_name} is not in "
                     "the registry")
    try:
        holder = client.get_model_version_by_alias(study.model_name, study.alias)
    except MlflowException:
        holder = None
    if holder is None:
        if mine:
            found.append(f"{study.model_name}@{study.alias}: no such alias, though the study registered "
                         f"version(s) {', '.join(str(v.version) for v in mine)}")
        return found
    try:
        client.get_run(holder.run_id)
    except MlflowException:
        found.append(f"{study.model_name}@{study.alias}: version {holder.version}'s run {holder.run_id} does not exist")
    return found

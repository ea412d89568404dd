"""The model registry: register a study's winner as a new version and move the alias only when the
newcomer beats the current holder on the same test rows. Every call goes through the caller's client.

Idempotent, so that a crown cut short (a worker killed between registering and moving the alias) is
finished by the next one, not repeated: the trial's run already registered is that version, and an alias
already on it stays. Reading the holder and moving the alias happen under the model's crown lock
(registry_lock.py), so two studies crowning the same model at once decide one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    ALREADY_EXISTS,
    RESOURCE_ALREADY_EXISTS,
    ErrorCode,
)

from harness.serve.registry_lock import registry_lock
from harness.serve.versions import move_alias


@dataclass
class Decision:
    promoted: bool
    version: str | None
    message: str


def _alias_holder(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None  # no such model or no such alias yet


def promote(client: MlflowClient, name: str, alias: str, model_uri: str, run_id: str, score: float, metric: str, minimize: bool,
            score_holder: Callable[[str], float], tags: dict[str, str]) -> Decision:
    """Register the study's winner as a new version; give it the alias only if it beats the holder.

    `score_holder(uri)` scores the current alias holder on the same test rows as `score`, so the two
    numbers are comparable even when the holder came from another study.
    """
    with registry_lock(client, name):
        version = _registered(client, name, model_uri, run_id, tags)
        holder = _alias_holder(client, name, alias)
        if holder is not None and holder.run_id == run_id:
            return Decision(False, str(holder.version),
                            f"{name}@{alias} is already this trial (version {holder.version})")
        holder_score = None
        if holder is not None:
            try:
                holder_score = score_holder(f"models:/{name}/{holder.version}")
            except Exception as err:  # the holder may take other columns; then the newcomer cannot be compared
                return Decision(False, version, f"registered {name} version {version}; {alias} stays version "
                                                f"{holder.version}: it cannot score this study's test rows ({err})")
        if holder_score is not None and not (score < holder_score if minimize else score > holder_score):
            return Decision(False, version, f"registered {name} version {version}; the champion stays version "
                                            f"{holder.version}: its {metric} {holder_score:.4g} is at least as good "
                                            f"as {score:.4g}")
        against = ("no previous champion" if holder is None
                   else f"{metric} {score:.4g} beats {holder_score:.4g} of version {holder.version}")
        # Recorded with the version it left, for `harness models NAME --rollback`.
        move_alias(client, name, alias, version, f"study {tags.get('harness.study', '?')}: promoted to @{alias} ({against})")
        moved = _alias_holder(client, name, alias)
        if moved is None or str(moved.version) != version:  # only a lock broken as stale lets this happen
            return Decision(False, version, f"registered {name} version {version}; another crown moved @{alias} "
                                            f"to version {moved.version if moved else '(none)'} meanwhile")
        return Decision(True, version, f"registered {name} version {version}; promoted to @{alias} ({against})")


def _registered(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict) -> str:
    """The version of this trial's model: the one registered before (by a crown cut short), or a new one."""
    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code not in (ErrorCode.Name(RESOURCE_ALREADY_EXISTS), ErrorCode.Name(ALREADY_EXISTS)):
            raise  # anything but another study (or worker) having created it first
    for found in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'"):
        return str(found.version)
    # The logged model's own location as the source: MLflow's registry store resolves a `models:/m-<id>`
    # source through the process-wide tracking URI, not through this client's store.
    model_id = model_uri.removeprefix("models:/")
    source = client.get_logged_model(model_id).artifact_location
    return str(client.create_model_version(name, source, run_id=run_id, tags=tags, model_id=model_id).version)

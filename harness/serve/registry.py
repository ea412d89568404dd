"""The model registry: register a study's winner as a new version and move the alias only when the
newcomer beats the current holder on the same test rows. Every call goes through the caller's client.
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
    holder = _alias_holder(client, name, alias)
    if holder is not None and holder.run_id == run_id:
        return Decision(False, holder.version, f"{name}@{alias} is already this trial (version {holder.version})")
    holder_score = None
    if holder is not None:
        try:
            holder_score = score_holder(f"models:/{name}/{holder.version}")
        except Exception as err:  # the holder may take other columns; then the newcomer cannot be compared
            return _register(client, name, model_uri, run_id, tags, alias=None,
                             message=f"{alias} stays version {holder.version}: it cannot score this study's test rows ({err})")
    beats = holder_score is None or (score < holder_score if minimize else score > holder_score)
    if beats:
        against = "no previous champion" if holder is None else f"{metric} {score:.4g} beats {holder_score:.4g} of version {holder.version}"
        return _register(client, name, model_uri, run_id, tags, alias=alias, message=f"promoted to @{alias} ({against})")
    return _register(client, name, model_uri, run_id, tags, alias=None,
                     message=f"the champion stays version {holder.version}: its {metric} {holder_score:.4g} "
                             f"is at least as good as {score:.4g}")


def _register(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict, alias: str | None,
              message: str) -> Decision:
    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code not in (ErrorCode.Name(RESOURCE_ALREADY_EXISTS), ErrorCode.Name(ALREADY_EXISTS)):
            raise  # anything but another study (or worker) having created it first
    # The logged model's own location as the source: MLflow's registry store resolves a `models:/m-<id>`
    # source through the process-wide tracking URI, not through this client's store.
    model_id = model_uri.removeprefix("models:/")
    source = client.get_logged_model(model_id).artifact_location
    version = client.create_model_version(name, source, run_id=run_id, tags=tags, model_id=model_id).version
    if alias:  # recorded with the version it left, for `harness models NAME --rollback`
        move_alias(client, name, alias, str(version), f"study {tags.get('harness.study', '?')}: {message}")
    return Decision(alias is not None, str(version), f"registered {name} version {version}; {message}")

"""A registered model's versions and the moves of its aliases (`harness models NAME`).

Every move of an alias, by a study's crown or by hand (`--promote`, `--rollback`), is recorded on the
registered model: the tag `harness.previous.<alias>` names the version it left (what a rollback returns
to), and `harness.alias_log` keeps the latest moves as JSON lines (when, alias, from, to, why).
"""

from __future__ import annotations

import json
import time

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from harness.errors import HarnessError

LOG_TAG = "harness.alias_log"
LOG_CHARS = 7000  # MLflow caps a tag value at 8,000 characters: the oldest moves fall off first


def previous_tag(alias: str) -> str:
    return f"harness.previous.{alias}"


def registered(client: MlflowClient, name: str):
    try:
        return client.get_registered_model(name)
    except MlflowException:
        names = [m.name for m in client.search_registered_models(max_results=50)]
        raise HarnessError(f"no registered model {name!r} in this store; registered here: "
                           f"{', '.join(names) or 'none'} (or give --tracking-uri)") from None


def move_alias(client: MlflowClient, name: str, alias: str, version: str, reason: str) -> str | None:
    """Point `alias` at `version`, recording the version it left and why; returns the version it left."""
    model = client.get_registered_model(name)
    before = model.aliases.get(alias)
    client.set_registered_model_alias(name, alias, str(version))
    if before is not None and str(before) != str(version):
        client.set_registered_model_tag(name, previous_tag(alias), str(before))
    entry = json.dumps({"when": time.strftime("%Y-%m-%d %H:%M:%S"), "alias": alias, "from": before,
                        "to": str(version), "why": reason})
    log = (model.tags.get(LOG_TAG, "") + "\n" + entry).strip()
    while len(log) > LOG_CHARS and "\n" in log:
        log = log.split("\n", 1)[1]
    client.set_registered_model_tag(name, LOG_TAG, log[-LOG_CHARS:])
    return None if before is None else str(before)


def alias_log(client: MlflowClient, name: str) -> list[dict]:
    """The recorded moves, oldest first."""
    text = client.get_registered_model(name).tags.get(LOG_TAG, "")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def versions_table(client: MlflowClient, name: str) -> list[dict]:
    """One row per version, newest first: its aliases, study and trial, and its run's test metrics."""
    model = registered(client, name)
    aliases: dict[str, list[str]] = {}
    for alias, version in model.aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for version in client.search_model_versions(f"name = '{name}'", max_results=1000):
        metrics = {}
        if version.run_id:
            try:
                metrics = {k: v for k, v in client.get_run(version.run_id).data.metrics.items()
                           if k.startswith("test/")}
            except MlflowException:
                pass  # the run was deleted; the version still serves
        rows.append({"version": int(version.version), "aliases": " ".join(f"@{a}" for a in aliases.get(
            str(version.version), [])), "study": version.tags.get("harness.study", ""),
            "trial": version.tags.get("harness.trial", ""),
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(version.creation_timestamp / 1000)),
            **metrics})
    return sorted(rows, key=lambda r: -r["version"])


def promote(client: MlflowClient, name: str, alias: str, version: str, reason: str) -> str:
    """Move the alias to `version` by hand; returns a line saying what moved."""
    registered(client, name)
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        raise HarnessError(f"--promote {version}: {name} has no version {version}; `harness models {name}` "
                           "lists them") from None
    before = move_alias(client, name, alias, str(version), reason)
    return f"{name}@{alias}: version {before or 'none'} -> {version} ({reason})"


def rollback(client: MlflowClient, name: str, alias: str, reason: str) -> str:
    """Move the alias back to the version it held before its last move."""
    model = registered(client, name)
    previous = model.tags.get(previous_tag(alias))
    if previous is None:
        raise HarnessError(f"--rollback: {name}@{alias} has no earlier version recorded; use --promote VERSION")
    return promote(client, name, alias, previous, reason)

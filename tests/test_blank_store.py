"""A new SQLite tracking store is a copy of a blank one, and behaves exactly as one MLflow migrated itself."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from mlflow import MlflowClient

from harness.record.blank_store import blank_store
from harness.record.tracking import ensure_store


def schema(path: Path) -> tuple[list, list]:
    with closing(sqlite3.connect(path)) as db:
        version = db.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    # Each statement's lines sorted: MLflow's own migrations write a table's constraints in varying order.
    return version, [(kind, name, sorted((sql or "").replace(",", "").split("\n"))) for kind, name, sql in tables]


def test_a_new_store_is_the_blank_copy_with_its_own_default_experiment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    ensure_store(f"sqlite:///{tmp_path / 'first.db'}")  # makes the blank store on the way
    blank = blank_store()
    assert blank is not None and blank.parent == tmp_path / "cache" / "harness"
    with closing(sqlite3.connect(blank)) as db:
        assert db.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)  # no Default with a stale path

    store = tmp_path / "stores" / "second.db"
    ensure_store(f"sqlite:///{store}")
    MlflowClient(f"sqlite:///{tmp_path / 'migrated.db'}").search_experiments()  # MLflow's own, for comparison
    assert schema(store) == schema(tmp_path / "migrated.db")

    client = MlflowClient(f"sqlite:///{store}")
    assert client.get_experiment("0").artifact_location == str(tmp_path / "mlruns" / "0")
    run = client.create_run(client.create_experiment("study"))
    client.log_metric(run.info.run_id, "val/rmse", 1.5)
    assert client.get_run(run.info.run_id).data.metrics == {"val/rmse": 1.5}


def test_without_a_usable_cache_mlflow_creates_the_store_itself(tmp_path, monkeypatch) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    monkeypatch.chdir(tmp_path)
    assert blank_store() is None
    ensure_store(f"sqlite:///{tmp_path / 'store.db'}")
    assert MlflowClient(f"sqlite:///{tmp_path / 'store.db'}").get_experiment("0").name == "Default"
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.building"))

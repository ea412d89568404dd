"""The bad-input table, the environment: stores that cannot work are found by a probe at start, before
anything is written, and answered with one line naming the store (see bad_input_table.py). An MLflow URL
where nothing listens fails at once instead of after MLflow's minutes of retries.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import optuna
import pytest
from bad_input_table import GOOD, Case, assert_refused, run_table

from harness.errors import HarnessError
from harness.study.storage import check_storage

# Its module fixture is built once: on one xdist worker, not once per worker (make test runs -n 2).
pytestmark = pytest.mark.xdist_group("bad-environment")

# A server that accepts connections and never answers: the probe must give up on its own timeout.
SILENT = socket.create_server(("127.0.0.1", 0), backlog=64)
SILENT_URL = f"http://127.0.0.1:{SILENT.getsockname()[1]}"
GARBAGE = bytes(range(256)) * 8  # not a SQLite header, not text


def env_case(case_id: str, expected: list[str], *args: str, files: dict | None = None, setup=None, **options) -> Case:
    """`harness study good.yaml ARGS` (a study that would run on its own) in a folder prepared by `setup`."""
    return Case(case_id, ["study", "good.yaml", *args], expected, files={"good.yaml": GOOD, **(files or {})},
                setup=setup, **options)


def make(*folders: str):
    return lambda root: [(root / f).mkdir(parents=True) for f in folders]


def journal_with_trials(root: Path) -> Path:
    """A real Optuna journal of study `tiny` (GOOD's name) in the default place, with three finished trials."""
    path = root / "mlruns" / "optuna" / "tiny.journal"
    path.parent.mkdir(parents=True)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="tiny", storage=storage)
    for value in (3.0, 2.0, 1.0):
        study.add_trial(optuna.trial.create_trial(value=value))
    return path


def cut_off_journal(root: Path) -> None:
    path = journal_with_trials(root)
    path.write_bytes(path.read_bytes()[:-25])  # the last record loses its end, as in a crash mid-write


def corrupt_journal(root: Path) -> None:
    path = journal_with_trials(root)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([lines[0], b'{"op_code": 5, "worker_id": \x00garbage\n', *lines[1:]]))


CASES = [
    # MLflow tracking store
    env_case("tracking path under a file", ["tracking store", "afile", "is a file"],
             "--tracking-uri", "sqlite:///afile/mlflow.db", files={"afile": "text"}),
    env_case("tracking path is a folder", ["tracking store", "adir is a folder"],
             "--tracking-uri", "sqlite:///adir", setup=make("adir")),
    env_case("tracking database in a read-only folder", ["tracking store", "cannot write in", "ro"],
             "--tracking-uri", "sqlite:///ro/mlflow.db", setup=make("ro"), read_only="ro"),
    env_case("a garbage SQLite file as tracking store", ["tracking store", "garbage.db", "not a SQLite database"],
             "--tracking-uri", "sqlite:///garbage.db", files={"garbage.db": GARBAGE}),
    env_case("an unknown tracking scheme", ["tracking store foo://bar", "unknown scheme 'foo'"],
             "--tracking-uri", "foo://bar"),
    env_case("mysql tracking without its driver", ["tracking store", "driver", "not installed"],
             "--tracking-uri", "mysql://u:secret@127.0.0.1:1/mlflow"),
    env_case("postgresql tracking where no database answers", ["tracking store", "cannot connect", "u:***@"],
             "--tracking-uri", "postgresql://u:secret@127.0.0.1:1/mlflow"),
    env_case("the file:// tracking store", ["file:///", "file store", "sqlite:///"],
             "--tracking-uri", "file:///nonexistent-harness-store/mlruns"),
    env_case("a plain folder as tracking store", ["tracking store ./mlruns", "file store"],
             "--tracking-uri", "./mlruns"),
    env_case("an MLflow URL where nothing listens", ["tracking store http://127.0.0.1:1", "no server answers"],
             "--tracking-uri", "http://127.0.0.1:1"),
    env_case("an MLflow URL that never answers", [SILENT_URL, "no server answers", "timed out"],
             "--tracking-uri", SILENT_URL),
    env_case("MLFLOW_TRACKING_URI where nothing listens", ["http://127.0.0.1:1", "no server answers"],
             env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"}),
    env_case("a read-only working folder for the default stores", ["mlruns", "cannot write in"],
             read_only=".", env={"MLFLOW_TRACKING_URI": "(unset)"}),
    # Optuna storage
    env_case("journal path under a file", ["--storage afile/x.journal", "is a file"],
             "--storage", "afile/x.journal", files={"afile": "text"}),
    env_case("journal path is a folder", ["--storage adir", "is a folder"], "--storage", "adir", setup=make("adir")),
    env_case("journal in a read-only folder", ["--storage ro/study.journal", "cannot write in"],
             "--storage", "ro/study.journal", setup=make("ro"), read_only="ro"),
    env_case("a garbage SQLite file as storage", ["--storage", "garbage.db", "not a SQLite database"],
             "--storage", "sqlite:///garbage.db", files={"garbage.db": GARBAGE}),
    env_case("SQLite storage under a file", ["--storage", "afile", "is a file"],
             "--storage", "sqlite:///afile/optuna.db", files={"afile": "text"}),
    env_case("an unknown storage scheme", ["--storage", "foo://x", "'foo'"], "--storage", "foo://x"),
    env_case("mysql storage without its driver", ["--storage", "driver", "not installed", "u:***@"],
             "--storage", "mysql://u:secret@127.0.0.1:1/optuna"),
    env_case("postgresql storage where no database answers", ["--storage", "cannot connect", "u:***@"],
             "--storage", "postgresql+psycopg://u:secret@127.0.0.1:1/optuna"),
    env_case("a corrupt journal", ["tiny.journal", "line 2 is not a journal record"], setup=corrupt_journal),
    env_case("a journal cut off mid-record", ["tiny.journal", "last record was cut off", "truncate -s"],
             setup=cut_off_journal),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory):
    results = run_table(CASES, tmp_path_factory.mktemp("bad-environment"))
    SILENT.close()
    return results


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_bad_environment_is_one_line_and_writes_nothing(outcomes, case_id: str) -> None:
    assert_refused(outcomes[case_id])


def test_no_password_in_the_message(outcomes) -> None:
    for case_id in ("mysql tracking without its driver", "postgresql tracking where no database answers",
                    "mysql storage without its driver", "postgresql storage where no database answers"):
        assert "secret" not in outcomes[case_id].proc.stderr


def test_the_suggested_repair_of_a_cut_off_journal_works(tmp_path: Path) -> None:
    """The refusal names the command that drops the partial record; after it, the study loads with every
    whole trial and takes new ones, and Optuna's own reading agrees."""
    path = journal_with_trials(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole + whole.splitlines(keepends=True)[-1][:30])  # a record cut off after 30 bytes
    with pytest.raises(HarnessError) as refused:
        check_storage(str(path), "tiny")
    command = str(refused.value).rsplit(": ", 1)[-1]
    assert command == f"truncate -s {len(whole)} {path}"
    subprocess.run(command.split(), check=True)
    check_storage(str(path), "tiny")  # now accepted
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert [t.value for t in study.trials] == [3.0, 2.0, 1.0]
    study.add_trial(optuna.trial.create_trial(value=0.5))
    assert all(json.loads(line) for line in path.read_bytes().splitlines())


def test_the_probes_accept_what_works_and_create_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new journal and SQLite database in folders yet to be made, and an existing whole journal."""
    check_storage(str(tmp_path / "new" / "deeper" / "study.journal"), "tiny")
    check_storage(f"sqlite:///{tmp_path}/other/optuna.db", "tiny")
    monkeypatch.chdir(tmp_path)
    journal_with_trials(tmp_path)
    check_storage(None, "tiny")
    assert not (tmp_path / "new").exists() and not (tmp_path / "other").exists()  # probes create nothing

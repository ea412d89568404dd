"""Start-up probes of where a store lives, run before anything is written: a local file or folder that
must be (or become) writable, a SQLite file that must be a database, a database URL whose driver must be
installed and whose server must answer, an HTTP server that must answer `/health` within seconds.

They read and never write (a write probe is a temporary file, removed at once), so a failed start
leaves nothing behind. The MLflow and Optuna stores both use them (record/tracking.py, study/storage.py).
"""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from harness.errors import HarnessError

PROBE_SECONDS = 5.0  # a server that has not answered by then is reported, not retried for minutes
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def check_folder(folder: Path, what: str) -> None:
    """`folder` is a folder this process can write in, or can be created: its nearest existing ancestor is
    a writable folder (not a file, not on a read-only file system)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"is under {existing}, which is a file"
        raise HarnessError(f"{what}: {folder} {where}, not a folder; choose another path")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise HarnessError(f"{what}: cannot write in {existing} ({err.strerror or err}); choose a writable "
                           "folder") from None


def check_file(path: Path, what: str, create: bool = True) -> None:
    """`path` is a file this process can append to, or (with `create`) one it can create; never a folder."""
    if path.is_dir():
        raise HarnessError(f"{what}: {path} is a folder; name a file in it instead")
    if not path.exists():
        if not create:
            raise HarnessError(f"{what}: {path} does not exist")
        check_folder(path.parent, what)
        return
    try:
        with path.open("ab"):  # opened for appending, nothing written: the file stays as it is
            pass
    except OSError as err:
        raise HarnessError(f"{what}: cannot write to {path} ({err.strerror or err}); choose a writable "
                           "location") from None
    check_folder(path.parent, what)  # SQLite and Optuna's lock write files beside it


def check_sqlite_file(path: Path, what: str, create: bool = True) -> None:
    """A SQLite database at `path`: an existing file must be one (an empty file is a new database)."""
    check_file(path, what, create)
    if path.exists():
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            raise HarnessError(f"{what}: {path} is not a SQLite database (it starts with {header[:8]!r}); move it "
                               "away or name another file")


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///relative` or `sqlite:////absolute` URL; None for an in-memory database."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def check_database_url(url: str, what: str, create: bool = True) -> None:
    """A SQLAlchemy database URL that can work: a known dialect with its driver installed, a usable file
    for SQLite, a server that accepts a connection within PROBE_SECONDS for the others."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise HarnessError(f"{what}: {redacted(url)} is not a database URL this installation knows (scheme "
                           f"{url.split('://', 1)[0]!r}); use sqlite:///path.db or postgresql+psycopg://...") from None
    try:
        dialect.import_dbapi()
    except ImportError as err:
        raise HarnessError(f"{what}: {redacted(url)} needs the Python driver {err.name or dialect.driver!r}, which "
                           f"is not installed; install it (e.g. pip install {_driver_package(dialect.driver)}) or "
                           "name the installed one in the URL") from None
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            check_sqlite_file(path, what, create)
        return
    try:
        engine = create_engine(parsed, connect_args=_timeout_args(parsed.get_backend_name()))
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except SQLAlchemyError as err:
        reason = " ".join(str(getattr(err, "orig", None) or err).split())[:300]
        raise HarnessError(f"{what}: cannot connect to {redacted(url)} ({reason}); start the database or check "
                           "the URL") from None


def _timeout_args(backend: str) -> dict:
    return {"connect_timeout": int(PROBE_SECONDS)} if backend in ("postgresql", "mysql") else {}


def _driver_package(driver: str) -> str:
    return {"psycopg2": "psycopg2-binary", "psycopg": "'psycopg[binary]'", "pymysql": "pymysql"}.get(driver, driver)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: nothing to hide in it
        return url


def check_http_server(url: str, what: str) -> None:
    """An HTTP(S) MLflow server answers `/health` within PROBE_SECONDS (MLflow itself retries for minutes)."""
    health = url.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=PROBE_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise HarnessError(f"{what}: no server answers at {url} ({reason}); start the MLflow server (mlflow server "
                           "...) or fix the URL") from None
    if status not in (200, 401, 403):  # 401/403: a server behind authentication, which MLflow's client handles
        raise HarnessError(f"{what}: {url} answered HTTP {status} at /health; is it an MLflow tracking server?")

"""PostgreSQL and an MLflow tracking server on it, on this machine: the stores a study shares across
workers and machines, started and stopped the same way by `make services` and by the tests.

    python scripts/services.py up     [--dir mlruns/services] [--pg-port 55433] [--mlflow-port 5055]
    python scripts/services.py down   [--dir mlruns/services]
    python scripts/services.py status [--dir mlruns/services]

`up` starts what is not running yet (twice is harmless): a PostgreSQL cluster in DIR/pg (initialized on
first use; bound to 127.0.0.1 on its own port; as root, it runs as the `postgres` user, which PostgreSQL
requires), databases `optuna` and `mlflow` owned by role `harness`, and `mlflow server` on the `mlflow`
database with served artifacts in DIR/artifacts (one web worker and no job runner: 550 MB instead of
2.5 GB, and 1 ms per request instead of 42). It waits until both answer, then writes DIR/../services.env:

    HARNESS_STORAGE=postgresql+psycopg://harness:...@127.0.0.1:55433/optuna
    MLFLOW_TRACKING_URI=http://127.0.0.1:5055

`down` stops the MLflow server by its pid file and PostgreSQL by its own (postmaster.pid).
Only the standard library is used, so this runs before the harness is installed.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROLE, PASSWORD = "harness", "harness"  # local, bound to 127.0.0.1; a real deployment brings its own
DATABASES = ("optuna", "mlflow")


def pg_bin() -> Path:
    """PostgreSQL's server binaries (initdb, pg_ctl are not on PATH in Debian's packages)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    sys.exit("error: PostgreSQL's initdb not found; install postgresql, or set PG_BIN to its bin folder")


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run the command as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]


class Services:
    def __init__(self, folder: Path, pg_port: int, mlflow_port: int):
        self.dir = folder.resolve()
        self.pg_dir = self.dir / "pg"
        self.data = self.pg_dir / "data"
        self.pg_port, self.mlflow_port = pg_port, mlflow_port
        self.mlflow_pid = self.dir / "mlflow.pid"
        self.env_file = self.dir.parent / "services.env"

    def uri(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{ROLE}:{PASSWORD}@127.0.0.1:{self.pg_port}/{database}"

    # PostgreSQL ---------------------------------------------------------------------------------------
    def postgres_pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive(pid) else None

    def start_postgres(self) -> None:
        if self.postgres_pid():
            print(f"postgres: running (pid {self.postgres_pid()}, {self.data})")
            return
        self.pg_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.pg_dir, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            run(as_postgres([str(pg_bin() / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                             "-E", "UTF8"]), quiet=True)
        options = f"-p {self.pg_port} -k {self.pg_dir} -c listen_addresses=127.0.0.1"
        run(as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-l", str(self.pg_dir / "server.log"),
                         "-o", f"'{options}'" if os.geteuid() == 0 and not shutil.which("runuser") else options,
                         "-w", "-t", "60", "start"]), quiet=True)
        self.create_databases()
        print(f"postgres: started on 127.0.0.1:{self.pg_port} (pid {self.postgres_pid()}, {self.data})")

    def psql(self, sql: str) -> str:
        out = run([shutil.which("psql") or str(pg_bin() / "psql"), "-h", str(self.pg_dir), "-p", str(self.pg_port),
                   "-U", "postgres", "-d", "postgres", "-tA", "-c", sql], quiet=True)
        return out.strip()

    def create_databases(self) -> None:
        if not self.psql(f"select 1 from pg_roles where rolname = '{ROLE}'"):
            self.psql(f"create role {ROLE} login password '{PASSWORD}'")
        for name in DATABASES:
            if not self.psql(f"select 1 from pg_database where datname = '{name}'"):
                self.psql(f"create database {name} owner {ROLE}")

    def stop_postgres(self) -> None:
        pid = self.postgres_pid()
        if pid is None:
            print("postgres: not running")
            return
        os.kill(pid, signal.SIGINT)  # "fast" shutdown: open sessions are ended, the data is consistent
        wait_gone(pid, 60)
        print(f"postgres: stopped (pid {pid})")

    # MLflow -------------------------------------------------------------------------------------------
    def mlflow_server_pid(self) -> int | None:
        try:
            pid = int(self.mlflow_pid.read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def start_mlflow(self) -> None:
        url = f"http://127.0.0.1:{self.mlflow_port}"
        if self.mlflow_server_pid() and answers(url):
            print(f"mlflow: running (pid {self.mlflow_server_pid()}, {url})")
            return
        (self.dir / "artifacts").mkdir(parents=True, exist_ok=True)
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
               "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.uri("mlflow"),
                   "--artifacts-destination", str(self.dir / "artifacts"), "--serve-artifacts",
                   "--host", "127.0.0.1", "--port", str(self.mlflow_port), "--workers", "1"]
        with open(self.dir / "mlflow.log", "ab") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.mlflow_pid.write_text(str(proc.pid))
        deadline = time.monotonic() + 180  # a first start migrates the database: 10-20 s, more on a busy machine
        while not answers(url):
            if proc.poll() is not None:
                sys.exit(f"error: mlflow server exited with {proc.returncode}; see {self.dir / 'mlflow.log'}")
            if time.monotonic() > deadline:
                sys.exit(f"error: mlflow server did not answer {url}/health within 180 s; "
                         f"see {self.dir / 'mlflow.log'}")
            time.sleep(0.5)
        print(f"mlflow: started at {url} (pid {proc.pid}, artifacts in {self.dir / 'artifacts'})")

    def stop_mlflow(self) -> None:
        pid = self.mlflow_server_pid()
        if pid is None:
            print("mlflow: not running")
        else:
            os.killpg(pid, signal.SIGTERM)  # the server and its uvicorn worker
            wait_gone(pid, 30)
            print(f"mlflow: stopped (pid {pid})")
        self.mlflow_pid.unlink(missing_ok=True)

    # both ---------------------------------------------------------------------------------------------
    def up(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.start_postgres()
        self.start_mlflow()
        self.env_file.write_text(f"HARNESS_STORAGE={self.uri('optuna')}\n"
                                 f"MLFLOW_TRACKING_URI=http://127.0.0.1:{self.mlflow_port}\n")
        print(f"wrote {self.env_file}: `set -a; . {self.env_file}; set +a` points harness at these services")

    def down(self) -> None:
        self.stop_mlflow()
        self.stop_postgres()
        self.env_file.unlink(missing_ok=True)

    def status(self) -> int:
        pg, ml = self.postgres_pid(), self.mlflow_server_pid()
        shown = {name: f"pid {pid}" if pid else "not running" for name, pid in (("postgres", pg), ("mlflow", ml))}
        print(f"postgres: {shown['postgres']}; mlflow: {shown['mlflow']}")
        return 0 if pg and ml else 1


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def wait_gone(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def run(command: list[str], quiet: bool = False) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(command[:3])}... exited {done.returncode}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def saved_ports(env_file: Path) -> tuple[int | None, int | None]:
    """The ports of services started earlier, so that `up` twice (or `down`) finds them again."""
    try:
        text = env_file.read_text()
    except OSError:
        return None, None
    pg = ml = None
    for line in text.splitlines():
        if line.startswith("HARNESS_STORAGE="):
            pg = int(line.rsplit(":", 1)[1].split("/")[0])
        if line.startswith("MLFLOW_TRACKING_URI="):
            ml = int(line.rsplit(":", 1)[1])
    return pg, ml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=Path("mlruns/services"), help="where data, logs, pids live")
    parser.add_argument("--pg-port", type=int, default=None, help="default 55433 (or the one in use)")
    parser.add_argument("--mlflow-port", type=int, default=None, help="default 5055 (or the one in use)")
    args = parser.parse_args()
    pg, ml = saved_ports(args.dir.resolve().parent / "services.env")
    services = Services(args.dir, args.pg_port or pg or 55433, args.mlflow_port or ml or 5055)
    if args.action == "up":
        services.up()
    elif args.action == "down":
        services.down()
    else:
        return services.status()
    return 0


if __name__ == "__main__":
    sys.exit(main())

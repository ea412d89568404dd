"""The forked command of the bad-input tables (forked_cli.py) answers as a fresh `harness` process does:
same exit code, same stdout and stderr, same files left behind, for a study that runs, a study file that
is refused and a prediction whose store does not exist."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml
from bad_input_table import GOOD, snapshot, with_change
from forked_cli import ForkedCli
from helpers import HARNESS

CASES = [  # (command line, files, exit code)
    (["study", "good.yaml", "--quiet"], {"good.yaml": GOOD}, 0),
    (["study", "bad.yaml"], {"bad.yaml": with_change("train.epoch", 1)}, 2),
    (["predict", "models:/m@champion", "in.csv", "--tracking-uri", "sqlite:///nowhere/mlflow.db"],
     {"in.csv": "a,b\n1,2\n"}, 2),
]


def test_a_forked_case_answers_as_a_fresh_process(tmp_path: Path) -> None:
    forked = ForkedCli()
    try:
        for number, (args, files, code) in enumerate(CASES):
            outcomes = []
            for how in ("fresh", "forked"):
                folder = tmp_path / f"case{number}-{how}"
                folder.mkdir()
                for name, content in files.items():
                    (folder / name).write_text(content if isinstance(content, str) else yaml.safe_dump(content))
                env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlruns/mlflow.db",
                       "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
                proc = (subprocess.run([*HARNESS, *args], cwd=folder, env=env, capture_output=True, text=True,
                                       timeout=300) if how == "fresh" else forked.run(args, folder, env))
                # Run ids, times and temp paths differ from run to run: compare what does not.
                outcomes.append((proc.returncode, proc.stderr.replace(str(folder), "CASE"),
                                 sorted(k for k in snapshot(folder) if "/mlruns/1/" not in f"/{k}"),
                                 len(proc.stdout.splitlines())))
            assert outcomes[0] == outcomes[1] and outcomes[0][0] == code, (args, outcomes)
    finally:
        forked.close()

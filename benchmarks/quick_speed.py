"""Item 4: quick mode's speed, through the real CLI, baselines and champion included.

    .venv/bin/python benchmarks/quick_speed.py [--large-trials 3]

- a few hundred rows: scikit-learn's diabetes table (442 rows) as a CSV, `harness study --data ... --target
  progression` with quick mode's own 30 trials. Goal: under 60 s, baselines included.
- 50,000 rows: a synthetic table of 32 features, `--trials 3`: seconds per trial (the whole command
  divided by its trials, so the study's start, baselines and crown are in it).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import PYTHON, harness_env, print_rows, row, save, synthetic_csv


def quick(folder: Path, csv: Path, target: str, trials: int | None) -> tuple[float, int, str]:
    command = [PYTHON, "-m", "harness", "study", "--data", str(csv), "--target", target]
    command += ["--trials", str(trials)] if trials else []
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, env=harness_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"quick mode on {csv.name} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    ran = len(re.findall(r"^  trial +\d+ ", proc.stdout, re.M))
    return seconds, ran, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-trials", type=int, default=3)
    args = parser.parse_args()
    from harness.data.sources import load_source

    folder = Path(tempfile.mkdtemp(prefix="bench-quick-"))
    try:
        frame, target = load_source("sklearn:diabetes", None, 0)
        small = folder / "diabetes.csv"
        frame.rename(columns={target: "progression"}).to_csv(small, index=False)
        small_seconds, small_trials, small_out = quick(folder, small, "progression", None)
        large = synthetic_csv(folder / "synthetic_50k.csv", 50_000)
        large_seconds, large_trials, large_out = quick(folder, large, "target", args.large_trials)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = [
        row("4 quick", f"quick mode, {len(frame)} rows (diabetes), {small_trials} trials, whole command",
            f"{small_seconds:.1f} s ({small_seconds / small_trials:.2f} s/trial)", None, "< 60 s", small_seconds < 60),
        row("4 quick", f"quick mode, 50,000 rows x 32, {large_trials} trials, whole command",
            f"{large_seconds:.1f} s ({large_seconds / large_trials:.1f} s/trial)"),
    ]
    print_rows(rows)
    save("quick", rows, {"small": {"seconds": small_seconds, "trials": small_trials, "stdout": small_out},
                         "large": {"seconds": large_seconds, "trials": large_trials, "stdout": large_out}})


if __name__ == "__main__":
    main()

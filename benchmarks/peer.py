"""Item 3: the house-prices study against the typical hand-written Optuna + MLflow script, one after the
other on the same machine.

    .venv/bin/python benchmarks/peer.py [--peer ../shared/peer/typical_study.py] [--trials 40]

- harness: `harness study experiments/house_prices.yaml` (the shipped file: 40 trials, a model per trial,
  the champion scored on test and registered), through the real CLI on a fresh store;
- peer: `typical_study.py CSV WORKDIR --trials 40 --log-model`, run as it is (Optuna + MLflow nested runs +
  the tutorial DataLoader loop + `mlflow.pytorch.log_model` per trial; it prints its test R2).
Both start from a fresh folder, both in a fresh process with the environment a user would have.
Goal: the harness in at most 0.2x the peer's wall time, with a test R2 at least as good.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import PYTHON, ROOT, harness_env, print_rows, row, save

PEER = ROOT.parent / "shared" / "peer" / "typical_study.py"


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", type=Path, default=PEER)
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    if not args.peer.is_file():
        print(f"  peer script not found at {args.peer}: item 3 skipped (give --peer PATH)")
        save("peer", [row("3 peer", "house prices vs the typical script", f"skipped: no {args.peer}")])
        return
    env = harness_env()
    env.pop("OMP_NUM_THREADS", None)  # each side picks its own threads, as it would for a user
    folder = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    try:
        shutil.copytree(ROOT / "experiments", folder / "experiments")
        ours, out = timed([PYTHON, "-m", "harness", "study", "experiments/house_prices.yaml",
                           "--trials", str(args.trials)], folder, env)
        our_r2 = float(re.search(r"test/r2=([-0-9.e]+)", out).group(1))
        (folder / "peer").mkdir()
        theirs, peer_out = timed([PYTHON, str(args.peer), str(ROOT / "experiments/data/house_prices.csv"),
                                  str(folder / "peer"), "--trials", str(args.trials), "--log-model"], folder, env)
        peer_r2 = float(re.search(r"test R2 ([-0-9.e]+)", peer_out).group(1))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ratio = ours / theirs
    rows = [
        row("3 peer", f"house prices, {args.trials} trials: typical Optuna+MLflow script", f"{theirs:.1f} s, "
            f"test R2 {peer_r2:.4f}", 1.0),
        row("3 peer", "harness study experiments/house_prices.yaml", f"{ours:.1f} s, test R2 {our_r2:.4f}", ratio,
            "<= 0.2x, R2 >=", ratio <= 0.2 and our_r2 >= peer_r2),
    ]
    print_rows(rows)
    save("peer", rows, {"harness_seconds": ours, "peer_seconds": theirs, "harness_r2": our_r2, "peer_r2": peer_r2,
                        "peer_line": peer_out.strip().splitlines()[-1], "omp_num_threads": os.environ.get("OMP_NUM_THREADS")})


if __name__ == "__main__":
    main()

"""Trials per minute with 1 and 2 workers, and with one worker beside two busy processes, on house prices.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/workers.py              # about 3 minutes on 2 cores
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/workers.py --trials 40 --also-two-threads
    .venv/bin/python benchmarks/workers.py --device cuda --workers 1 2 4 --no-busy   # workers sharing a GPU

Every trial does the same work (a fixed MLP, a fixed number of epochs, no early stopping, no pruning), so
trials per minute compare the setups and not the sampler's luck. Each setup is the real command,
`harness study FILE --workers N`, in a fresh folder with fresh stores (an Optuna journal, MLflow's SQLite).

Two figures per setup:
- trials/min (work): trials divided by the time from the first trial's start to the last one's end, as
  Optuna recorded them: the steady rate, without the one-off start-up (imports, data, store creation);
- wall s: the whole command, start-up and crown included.
"Busy" starts two processes that spin on the CPU for the whole run, as other jobs on a shared machine
would; `--also-two-threads` adds one worker with two torch threads beside them (torch's default on two
cores, the collapse this harness avoids by giving each worker its share of the cores).
Timings on a shared machine are noisy: compare the ratios of setups measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = """
name: bench
task: regression
data: {{source: {data}, target: price, target_transform: log}}
model: {{family: mlp, n_layers: 2, hidden: 32, activation: relu, dropout: 0.0}}
train:
  optimizer: adamw
  lr: {{float: [1.0e-3, 1.0e-2], log: true}}
  batch_size: 32
  epochs: {epochs}
  early_stopping: {{patience: {epochs}}}
study: {{trials: {trials}, sampler: random, pruner: none, seed: 0}}
baselines: false
"""


def busy_processes(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def run_setup(label: str, workers: int, trials: int, epochs: int, busy: int = 0,
              extra: list[str] = ()) -> dict:
    """One setup in a fresh folder; returns its figures."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        folder = Path(folder)
        (folder / "bench.yaml").write_text(STUDY.format(data=ROOT / "experiments" / "data" / "house_prices.csv",
                                                        epochs=epochs, trials=trials))
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlruns/mlflow.db",
               "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(ROOT)}
        spinners = busy_processes(busy)
        try:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "harness", "study", "bench.yaml", "--workers", str(workers),
                                   *extra], cwd=folder, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
        finally:
            for proc in spinners:
                proc.kill()
                proc.wait()
        if done.returncode != 0:
            raise SystemExit(f"{label}: harness exited {done.returncode}\n{done.stdout}\n{done.stderr}")
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        study = optuna.load_study(study_name="bench", storage=JournalStorage(JournalFileBackend(
            str(folder / "mlruns" / "optuna" / "bench.journal"))))
        finished = [t for t in study.trials if t.datetime_complete is not None]
        span = (max(t.datetime_complete for t in finished) - min(t.datetime_start for t in finished)).total_seconds()
    return {"label": label, "trials": len(finished), "per_minute": 60 * len(finished) / span, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24, help="trials per setup (default 24)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs of every trial (default 60)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare (1 2)")
    parser.add_argument("--device", default=None, help="train.device, e.g. cuda: the workers share the GPU(s)")
    parser.add_argument("--no-busy", action="store_true", help="skip the setups beside busy processes")
    parser.add_argument("--also-two-threads", action="store_true",
                        help="also one worker with two torch threads beside the busy processes")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    device = ["--set", f"train.device={args.device}"] if args.device else []
    print(f"house prices (546 rows), {args.trials} trials per setup, each a fixed 2x32 MLP for {args.epochs} epochs; "
          f"{cores} cores{', device ' + args.device if args.device else ''}; load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    setups = [(f"{n} worker{'s' if n > 1 else ''}", n, 0, device) for n in args.workers]
    if not args.no_busy:
        setups.append(("1 worker beside 2 busy processes", 1, 2, device))
        if args.also_two_threads:
            setups.append(("1 worker, 2 torch threads, beside 2 busy", 1, 2, [*device, "--set", "train.threads=2"]))
    results = {}
    for label, workers, busy, extra in setups:
        result = run_setup(label, workers, args.trials, args.epochs, busy, extra)
        results[label] = result["per_minute"]
        print(f"  {label:<42} {result['per_minute']:7.1f} trials/min (work)   {result['wall']:6.1f} s wall", flush=True)
    one = results[setups[0][0]]
    for label, _, busy, _ in setups[1:]:
        if busy:
            print(f"{setups[0][0]} alone / {label}: {one / results[label]:.2f}x (goal: at most 2x)")
        else:
            print(f"{label} / {setups[0][0]}: {results[label] / one:.2f}x the trials per minute "
                  "(goal for 2: at least 1.7x)")


if __name__ == "__main__":
    main()

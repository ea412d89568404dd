"""What the benchmarks share: the machine they ran on, side-by-side timing, synthetic tables, busy
neighbours, and the results files under benchmarks/results/.

Every section measures its variants in one process run, interleaved (A B C, A B C, ...) so that a change
in the machine's load touches all of them alike, and reports ratios between them: absolute seconds on a
shared machine say little, ratios measured side by side say what changed.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable


def machine() -> dict:
    """The machine and load a figure came from."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2),
            "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def interleaved(variants: dict[str, Callable[[], float | None]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each variant, `repeats` rounds of A B C...; a variant may return its own measured
    seconds (e.g. without its set-up), else its whole call is timed."""
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            measured = run()
            seconds[name].append(measured if measured is not None else time.perf_counter() - start)
    return seconds


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def best(values: list[float]) -> float:
    """The fastest of the repeats: what the code costs when neighbours leave it alone (timeit's choice)."""
    return float(min(values))


def synthetic_table(rows: int, features: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A regression table with a learnable, slightly nonlinear signal: X (rows, features) float32, y (rows,)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    w = rng.normal(size=features).astype(np.float32)
    y = X @ w + 0.5 * np.sin(X[:, 0] * 2) + 0.1 * rng.normal(size=rows).astype(np.float32)
    return X, y.astype(np.float32)


def synthetic_csv(path: Path, rows: int, features: int = 32, seed: int = 0) -> Path:
    """The synthetic table as a CSV with a `target` column, written once per size."""
    import pandas as pd

    if not path.exists():
        X, y = synthetic_table(rows, features, seed)
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(features)])
        frame["target"] = y
        frame.to_csv(path, index=False, float_format="%.5g")
    return path


BUSY_LOOP = "import time\nwhile True:\n    sum(i * i for i in range(10000))\n"


class Busy:
    """`count` processes that keep a core each busy (pure Python, one thread), for as long as the block runs."""

    def __init__(self, count: int):
        self.count, self.procs = count, []

    def __enter__(self) -> Busy:
        self.procs = [subprocess.Popen([PYTHON, "-c", BUSY_LOOP]) for _ in range(self.count)]
        time.sleep(0.5)  # let them start spinning
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)


def harness_env(**extra: str) -> dict[str, str]:
    """The environment a benchmark starts `harness` (or the peer script) with."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true", **extra}


def save(section: str, rows: list[dict], details: dict | None = None) -> Path:
    """Write one section's rows (and anything worth keeping beside them) to results/<section>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{section}.json"
    path.write_text(json.dumps({"section": section, "machine": machine(), "rows": rows,
                                "details": details or {}}, indent=2))
    return path


def row(item: str, what: str, figure: str, ratio: float | None = None, goal: str = "",
        met: bool | None = None) -> dict:
    """One line of the table: what was compared, the figures, the ratio, and the goal it answers."""
    return {"item": item, "what": what, "figure": figure, "ratio": ratio, "goal": goal, "met": met}


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
        verdict = {True: "met", False: "NOT met", None: ""}[r["met"]]
        print(f"  {r['what']:<58} {r['figure']:<46} {ratio:>7}  {r['goal']} {verdict}", flush=True)

"""What the plots cost: a trial's learning-curve SVG (made once per trial, after training), Optuna's study
plots and the champion's plots (made once per study, at the crown), drawn into a temp folder, no MLflow.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python benchmarks/plots_cost.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna


def timed(fn, repeat: int) -> tuple[float, float]:
    """(first call, median of the next `repeat`) in milliseconds."""
    start = time.perf_counter()
    fn()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times)


def main() -> None:
    from harness.record.curves_svg import curves_svg
    from harness.record.plots import classification_figures, regression_figures
    from harness.search.visualize import study_plots

    folder = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    history = [{"train/loss": 1 / (e + 1), "val/loss": 1.2 / (e + 1), "val/rmse": 100 / (e + 1)} for e in range(100)]
    first, median = timed(lambda: (folder / "curves.svg").write_text(curves_svg(history, "val/rmse", 80)), 20)
    print(f"trial curves SVG (100 epochs): {median:.1f} ms per trial")

    actual = rng.normal(size=500)
    first, median = timed(lambda: [f.savefig(folder / f"{n}.png") for n, f in
                                   regression_figures(actual, actual + rng.normal(0, .3, 500), "y").items()], 5)
    print(f"champion plots, regression (500 test rows): {median:.0f} ms")
    proba = rng.dirichlet(np.ones(3), 500)
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 500)]
    first, median = timed(lambda: [f.savefig(folder / f"{n}.png") for n, f in
                                   classification_figures(labels, proba, ["a", "b", "c"]).items()], 5)
    print(f"champion plots, classification (3 classes): {median:.0f} ms")

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: sum((t.suggest_float(f"x{i}", -1, 1) - 0.1 * i) ** 2 for i in range(5))
                   + (t.suggest_categorical("c", ["a", "b"]) == "a"), n_trials=30)
    start = time.perf_counter()
    files, notes = study_plots(study, ["val/rmse"], "val/rmse", folder)
    took = time.perf_counter() - start
    html = next(f for f in files if f.suffix == ".html").stat().st_size / 1e6
    print(f"study plots (30 trials, 6 params; 4 PNGs + one HTML of {html:.1f} MB): {took:.1f} s once per study"
          f"{'; skipped: ' + '; '.join(notes) if notes else ''}")


if __name__ == "__main__":
    main()

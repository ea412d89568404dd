"""Plots as run artifacts; the champion's drawn with matplotlib's object API (no pyplot state, the Agg canvas):

    plots/curves.svg             each trial: its learning curves, the best epoch marked (curves_svg.py)
    plots/predicted_vs_actual.png, plots/residuals.png      the champion, regression (test rows)
    plots/confusion_matrix.png, plots/roc.png                the champion, classification (test rows)

A plot is a nicety: any failure to draw one is logged as a note (tag `harness.note.plots` and a warning)
and never fails the trial or the study.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from harness.record.curves_svg import curves_svg

log = logging.getLogger("harness.plots")
FOLDER = "plots"
NOTE_TAG = "harness.note.plots"
SMALL = (5.0, 3.2)  # inches at 80 dpi: 400x256 pixels


def figure(size: tuple[float, float] = SMALL, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=80, layout=layout)


def safely(tracker, run_ids: list[str], what: str, draw: Callable[[Path], list[Path]],
           keep: Path | None = None) -> list[Path]:
    """Draw once into a temp folder (or `keep`, where the files stay) and log the files under plots/ of
    each run; a failure becomes a note on those runs, never an error. Returns `plots/<name>.png` paths."""
    try:
        with tempfile.TemporaryDirectory() as folder:
            files = draw(keep or Path(folder))
            for run_id in run_ids:
                for path in files:
                    tracker.client.log_artifact(run_id, str(path), FOLDER)
            return [Path(FOLDER) / p.name for p in files]
    except Exception as err:  # noqa: BLE001  (a plot must never fail a study)
        note = f"{what} not drawn: {type(err).__name__}: {err}"
        log.warning(note)
        for run_id in run_ids:
            try:
                tracker.set_tags(run_id, {NOTE_TAG: note[:5000]})
            except Exception:  # noqa: BLE001
                pass
        return []


def log_trial_curves(tracker, run_id: str, history: list[dict], metric: str, best_epoch: int | None) -> list[Path]:
    """One small SVG of the trial's learning curves (a pruned trial's too), made once, after training."""
    def draw(folder: Path) -> list[Path]:
        if not history:
            return []
        path = folder / "curves.svg"
        path.write_text(curves_svg(history, metric, best_epoch), encoding="utf-8")
        return [path]

    return safely(tracker, [run_id], "learning curves", draw)


def regression_figures(actual: np.ndarray, predicted: np.ndarray, target: str) -> dict[str, object]:
    """Predicted against actual (the diagonal is perfect) and residuals against predicted."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    scatter = figure((4.5, 4.5))
    axis = scatter.subplots()
    axis.scatter(actual, predicted, s=10, alpha=0.6)
    low, high = float(np.nanmin([actual.min(), predicted.min()])), float(np.nanmax([actual.max(), predicted.max()]))
    axis.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel(f"actual {target}")
    axis.set_ylabel(f"predicted {target}")
    axis.set_title("champion on the test rows", fontsize=9)
    residuals = figure((5.0, 3.5))
    axis = residuals.subplots()
    axis.scatter(predicted, actual - predicted, s=10, alpha=0.6)
    axis.axhline(0, color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel(f"predicted {target}")
    axis.set_ylabel("actual - predicted")
    axis.set_title("residuals on the test rows", fontsize=9)
    return {"predicted_vs_actual": scatter, "residuals": residuals}


def classification_figures(labels: np.ndarray, proba: np.ndarray, classes: list) -> dict[str, object]:
    """The confusion matrix (counts) and one-vs-rest ROC curves with their AUC."""
    from sklearn.metrics import auc, confusion_matrix, roc_curve

    index = {c: i for i, c in enumerate(classes)}
    truth = np.array([index[v] for v in labels])
    predicted = proba.argmax(1)
    matrix = confusion_matrix(truth, predicted, labels=list(range(len(classes))))
    size = min(2.5 + 0.4 * len(classes), 9.0)
    confusion = figure((size + 1, size))
    axis = confusion.subplots()
    image = axis.imshow(matrix, cmap="Blues")
    confusion.colorbar(image, ax=axis)
    ticks = range(len(classes))
    axis.set_xticks(ticks, [str(c) for c in classes], rotation=45, ha="right", fontsize=7)
    axis.set_yticks(ticks, [str(c) for c in classes], fontsize=7)
    if len(classes) <= 20:
        for (i, j), count in np.ndenumerate(matrix):
            axis.text(j, i, str(count), ha="center", va="center", fontsize=7,
                      color="white" if count > matrix.max() / 2 else "black")
    axis.set_xlabel("predicted")
    axis.set_ylabel("actual")
    roc = figure((4.5, 4.5))
    axis = roc.subplots()
    shown = [1] if len(classes) == 2 else range(min(len(classes), 10))  # two classes: one curve says it all
    for k in shown:
        positives = truth == k
        if positives.all() or not positives.any():
            continue  # a class absent from (or alone in) the test rows has no ROC curve
        fpr, tpr, _ = roc_curve(positives, proba[:, k])
        axis.plot(fpr, tpr, label=f"{classes[k]} (AUC {auc(fpr, tpr):.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.legend(fontsize=7)
    return {"confusion_matrix": confusion, "roc": roc}


def log_champion_plots(tracker, run_ids: list[str], predictions, labels: np.ndarray, task: str, target: str,
                       classes: list | None, keep: Path | None = None) -> list[Path]:
    """The champion's test-row plots, logged to each run in `run_ids` (its trial and the parent run)."""
    def draw(folder: Path) -> list[Path]:
        if task == "regression":
            figures = regression_figures(labels, predictions["prediction"].to_numpy(), target)
        else:
            proba = predictions[[f"proba_{c}" for c in classes]].to_numpy(dtype=float)
            figures = classification_figures(labels, proba, classes)
        paths = []
        for name, fig in figures.items():
            paths.append(folder / f"{name}.png")
            fig.savefig(paths[-1])
        return paths

    return safely(tracker, run_ids, "champion plots", draw, keep)

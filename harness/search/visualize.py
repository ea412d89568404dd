"""The study's own plots from Optuna's visualization module, drawn once at the crown:

    optimization_history, param_importances, parallel_coordinate, slice   (one objective)
    pareto_front, param_importances (of the primary metric)                (several objectives)

each as a PNG (Optuna's matplotlib versions) and all of them together in one interactive page,
`study_plots.html` (Optuna's plotly versions, plotly.js embedded once so the page works offline).
A plot that cannot be drawn (too few trials, a single value) is skipped with a note.

They need only the finished trials, so the crown draws them in a process of its own (`draw_beside`) while
it scores and registers the champion: on 2 cores the plots' 3 to 5 seconds leave the study's end.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import optuna

HTML = "study_plots.html"


def _plans(study: optuna.Study, names: list[str], metric: str) -> dict[str, tuple[Callable, Callable, dict]]:
    """name -> (plotly function, matplotlib function, keyword arguments)."""
    from optuna import visualization as vis
    from optuna.visualization import matplotlib as mpl

    if len(names) > 1:
        primary = names.index(metric) if metric in names else 0
        target = {"target": lambda t: t.values[primary], "target_name": names[primary]}
        return {"pareto_front": (vis.plot_pareto_front, mpl.plot_pareto_front, {"target_names": names}),
                "param_importances": (vis.plot_param_importances, mpl.plot_param_importances, target)}
    named = {"target_name": metric}
    return {"optimization_history": (vis.plot_optimization_history, mpl.plot_optimization_history, named),
            "param_importances": (vis.plot_param_importances, mpl.plot_param_importances, named),
            "parallel_coordinate": (vis.plot_parallel_coordinate, mpl.plot_parallel_coordinate, named),
            "slice": (vis.plot_slice, mpl.plot_slice, named)}


def study_plots(study: optuna.Study, names: list[str], metric: str, folder: Path) -> tuple[list[Path], list[str]]:
    """Draw the study's plots into `folder`; returns the files written and a note per plot skipped."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    from matplotlib import pyplot  # Optuna's matplotlib plots draw on pyplot's current figure

    files, notes, html = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        for name, (plotly_plot, matplotlib_plot, kwargs) in _plans(study, names, metric).items():
            try:
                axes = matplotlib_plot(study, **kwargs)
                figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
                figure.set_size_inches(8, 5)
                figure.savefig(folder / f"{name}.png", dpi=80, bbox_inches="tight")
                files.append(folder / f"{name}.png")
                html.append(plotly_plot(study, **kwargs))
            except Exception as err:  # noqa: BLE001  (too few trials, one value only: skip, never fail)
                notes.append(f"{name}: {type(err).__name__}: {err}")
            finally:
                pyplot.close("all")
    if html:
        parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(html)]
        page = (f"<html><head><meta charset='utf-8'><title>{study.study_name}: study plots</title></head><body>"
                + "".join(parts) + "</body></html>")
        (folder / HTML).write_text(page)
        files.append(folder / HTML)
    return files, notes


class NotDrawn(Exception):
    """The drawing process failed: its error, as it said it."""


class Drawing:
    """The study plots being drawn in a forked process; `collect(into)` waits for them, `close()` stops it."""

    def __init__(self, study: optuna.Study, names: list[str], metric: str):
        trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
        self.folder = Path(tempfile.mkdtemp(prefix="harness-plots-"))
        self.process = multiprocessing.get_context("fork").Process(
            target=_draw_apart, args=(trials, study.directions, study.study_name, names, metric, self.folder),
            daemon=True)
        self.process.start()

    def collect(self, into: Path) -> tuple[list[Path], list[str]]:
        """The files drawn, moved into `into`, and the notes of plots skipped; NotDrawn if drawing failed."""
        self.process.join()
        said = self.folder / "drawn.json"
        if not said.exists():
            raise NotDrawn(f"the drawing process ended with exit code {self.process.exitcode}")
        drawn = json.loads(said.read_text())
        if "error" in drawn:
            raise NotDrawn(drawn["error"])
        files = [Path(shutil.move(self.folder / name, into / name)) for name in drawn["files"]]
        return files, drawn["notes"]

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        shutil.rmtree(self.folder, ignore_errors=True)


def _draw_apart(trials, directions, name: str, names: list[str], metric: str, folder: Path) -> None:
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        copy = optuna.create_study(study_name=name, directions=directions)  # in memory: the stores stay untouched
        copy.add_trials(trials)
        files, notes = study_plots(copy, names, metric, folder)
        (folder / "drawn.json").write_text(json.dumps({"files": [p.name for p in files], "notes": notes}))
    except BaseException as err:  # noqa: BLE001  (told to the study's process, which notes it)
        (folder / "drawn.json").write_text(json.dumps({"error": f"{type(err).__name__}: {err}"}))


def draw_beside(study: optuna.Study, names: list[str], metric: str) -> Drawing:
    """Start drawing the study's plots in a forked process, from its finished trials as they are now."""
    return Drawing(study, names, metric)

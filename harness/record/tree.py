"""The run tree as the MLflow UI shows it, so that a study reads at a glance:

- each trial's per-epoch values are curves (`epoch/val/rmse` at step = epoch) and its summary is one value
  per name (`val/rmse`: the restored best epoch's), so the table's "latest value" is the trial's own score
  and no curve gains a point past its last epoch;
- the parent run holds the search space and the budget as params (a range in the column where each trial
  shows the value it drew), and links the best trial in its description;
- the champion (and the best trial, when it did not take the alias) is named and tagged to stand out,
  pruned and failed trials say so in their names;
- a saved view of the runs table (MLflow's shared view state: an experiment tag opened by
  `?viewStateShareKey=`): trials and baselines side by side, the study metric first and sorted on, the
  searched params, every run in the charts.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from urllib.parse import quote

from harness.spec.distributions import ChoiceDist, FloatDist, IntDist
from harness.spec.names import bare, minimized, task_metrics

CURVE = "epoch/"  # `epoch/val/rmse` is the curve; `val/rmse` alone is the trial's summary (its best epoch)
MARK = "harness.mark"  # `champion` or `best` on the trial runs that stand out
VIEW_KEY = "harness"  # the experiment's shared view: /#/experiments/<id>/runs?viewStateShareKey=harness
VIEW_TAG = "mlflow.sharedViewState."  # MLflow UI's experiment tag prefix for a shared runs-table view
VIEW_NAME = "harness: trials compared"
STATE_SUFFIX = {"KILLED": "pruned", "FAILED": "failed"}


def curves(scores: dict[str, float], schedule: str) -> dict[str, float]:
    """One epoch's values under their curve names. A rate that never moves (no schedule) is already a
    param: as a curve it is a flat line that reads as 0 on the chart's axis."""
    return {CURVE + k: v for k, v in scores.items() if not (k == "train/lr" and schedule == "none")}


def trial_name(number: int | None, mark: str | None = None) -> str:
    """`trial-7`, or `trial-7 (champion)`, `trial-3 (pruned)`: the Run Name column says what stands out.
    No number is the study's ensemble run: `ensemble`, `ensemble (champion)`."""
    return (f"trial-{number}" if number is not None else "ensemble") + (f" ({mark})" if mark else "")


def describe(value) -> str:
    """A searched value as the parent run's param shows it: `float [0.0001, 0.01] log`, `choice [relu, gelu]`."""
    if isinstance(value, ChoiceDist):
        return "choice [" + ", ".join(map(str, value.options)) + "]"
    if isinstance(value, (IntDist, FloatDist)):
        kind = "int" if isinstance(value, IntDist) else "float"
        extra = (" log" if value.log else "") + (f" step {value.step}" if getattr(value, "step", 1) != 1 else "")
        return f"{kind} [{value.low:g}, {value.high:g}]{extra}"
    return str(value)


def study_params(space: dict, budget: dict) -> dict[str, str]:
    """The parent run's params: each searched parameter under its trials' name (so the range lines up with
    the values drawn), and the budget under its study-file key (`study.trials`, `train.epochs`, ...)."""
    return {**{k: describe(v) for k, v in space.items()}, **{k: str(v) for k, v in budget.items() if v is not None}}


def log_params_once(tracker, run_id: str, params: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Log the params the run lacks; MLflow params never change, so a resumed study with another budget
    keeps the first values and gets back {key: (logged, asked)} for a note."""
    from mlflow.entities import Param

    logged = tracker.client.get_run(run_id).data.params
    changed = {k: (logged[k], v) for k, v in params.items() if k in logged and logged[k] != v[:6000]}
    new = [Param(k, v[:6000]) for k, v in params.items() if k not in logged]
    if new:
        tracker.client.log_batch(run_id, params=new)
    return changed


def run_link(experiment_id: str, run_id: str, text: str) -> str:
    """A Markdown link the MLflow UI follows from a run's description."""
    return f"[{text}](#/experiments/{experiment_id}/runs/{run_id})"


def mark_trials(tracker, experiment_id: str, parent_id: str,
                marks: dict[str, tuple[int | None, str, str]]) -> None:
    """Name, tag and describe the trial runs that stand out ({run_id: (trial number, mark, description)});
    marks left by an earlier crown of this study on other runs are taken off."""
    earlier = tracker.client.search_runs(
        [experiment_id], max_results=100,
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}' and tags.`{MARK}` LIKE '%'")
    for run in earlier:
        if run.info.run_id not in marks:
            number = run.data.tags.get("harness.trial")  # none on an ensemble run
            number = int(number) if number is not None else None
            tracker.set_tags(run.info.run_id, {"mlflow.runName": trial_name(number)})
            for key in (MARK, "mlflow.note.content"):
                tracker.client.delete_tag(run.info.run_id, key)
    for run_id, (number, mark, note) in marks.items():
        tracker.set_tags(run_id, {"mlflow.runName": trial_name(number, mark), MARK: mark, "mlflow.note.content": note})


def view_state(metric: str, task: str, params: list[str]) -> dict:
    """The runs table a study is compared in: trials and baselines (not the parent) side by side, sorted by
    the study metric, which comes first, then the other validation metrics, its test score, the searched
    params and the trial state; every run drawn in the charts (the UI's default hides all past the 10th)."""
    first = f"metrics.`{metric}`"
    others = [f"metrics.`val/{m}`" for m in task_metrics(task) if f"val/{m}" != metric]
    columns = [first, *others, f"metrics.`test/{bare(metric)}`", "metrics.`best_epoch`",
               *(f"params.`{p}`" for p in params), "tags.`harness.state`", "attributes.`Models`"]
    return {"selectedColumns": columns, "columnOrder": columns, "runsHiddenMode": "SHOW_ALL",
            "searchFilter": "tags.`harness.role` != 'study'", "orderByKey": first,
            "orderByAsc": minimized(metric)}


def save_view(tracker, experiment_id: str, state: dict) -> None:
    """Store the view on the experiment as MLflow 3.17's UI stores a saved view (a name and the state,
    zlib-deflated and base64-encoded): it is listed under the runs page's "Views" button, and
    `?viewStateShareKey=harness` opens it."""
    now = int(time.time() * 1000)
    packed = "deflate;" + base64.b64encode(zlib.compress(json.dumps(state).encode())).decode()
    value = {"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": packed}
    tracker.client.set_experiment_tag(experiment_id, VIEW_TAG + VIEW_KEY, json.dumps(value))


def ui_urls(base: str, experiment_id: str) -> tuple[str, str]:
    """The runs page of an experiment (MLflow 3 opens a GenAI overview without `/runs`) and its saved view."""
    runs = f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs"
    return runs, f"{runs}?viewStateShareKey={quote(VIEW_KEY)}"

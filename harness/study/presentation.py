"""What a study leaves for people to look at, gathered where Optuna, the data and MLflow meet:
the parent run's space, budget and saved table view before the trials; after the crown, the marks on the
best and champion trials, the parent's description, the plots and the study report.

Nothing here may fail a study: a plot or a report that cannot be made becomes a note.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Callable

import optuna

from harness.record import plots, report, tree
from harness.search import objectives, visualize
from harness.search.space import searched
from harness.serve.predict import load_model
from harness.spec.schema import StudySpec

log = logging.getLogger("harness.presentation")
COLUMN_LINES = 40  # columns listed in the terminal; the report lists them all


def echo_columns(data, echo: Callable[[str], None]) -> None:
    """How each column of a table was treated (numeric, categorical, text, date, dropped and why)."""
    from harness.data.profile import report_lines

    if not data.columns:
        return
    lines = report_lines(data.columns)
    echo("  columns:")
    for line in lines[:COLUMN_LINES]:
        echo(f"    {line}")
    if len(lines) > COLUMN_LINES:
        echo(f"    ... and {len(lines) - COLUMN_LINES} more (report.md on the parent run lists every one)")


def budget(spec: StudySpec) -> dict[str, object]:
    """The budget and the rules of the search, under their study-file keys."""
    split = spec.data.split
    return {"study.metric": spec.study.metric, "study.direction": spec.study.direction,
            "study.objectives": ", ".join(spec.study.objectives) if spec.study.objectives else None,
            "study.trials": spec.study.trials, "study.timeout": spec.study.timeout,
            "study.sampler": spec.study.sampler, "study.pruner": spec.study.pruner, "study.seed": spec.study.seed,
            "train.epochs": spec.train.epochs, "train.early_stopping.patience": spec.train.early_stopping.patience,
            "data.split": f"val {split.val}, test {split.test}, seed {split.seed}"}


def label_parent(spec: StudySpec, data, tracker, experiment_id: str, parent_id: str,
                 echo: Callable[[str], None]) -> None:
    """Before the trials: the search space and budget as the parent's params, and the saved table view."""
    space = searched(spec)
    changed = tree.log_params_once(tracker, parent_id, tree.study_params(space, budget(spec)))
    for key, (first, now) in changed.items():
        echo(f"  note: the parent run keeps {key} = {first} from its first run (MLflow params never change); "
             f"this run asks for {now}")
    tree.save_view(tracker, experiment_id, tree.view_state(spec.study.metric, data.task, list(space)))


def after_crown(study: optuna.Study, spec: StudySpec, data, tracker, result, echo: Callable[[str], None],
                drawing: visualize.Drawing | None = None) -> None:
    """Marks, description, plots (the study's from `drawing` when they were drawn beside the crown) and
    report; each step on its own, a failure only a note."""
    best = next(t for t in study.trials if t.number == result.best_trial)
    run_id = best.user_attrs["mlflow_run_id"]
    steps = [("marks", lambda: mark(spec, tracker, result, run_id)),
             ("plots and report", lambda: plots_and_report(study, spec, data, tracker, result, best, drawing))]
    for what, step in steps:
        try:
            step()
        except Exception as err:  # noqa: BLE001  (the study is done; what is shown of it must not undo it)
            log.warning("%s failed", what, exc_info=True)
            echo(f"  note: {what} not made: {type(err).__name__}: {err}")


def mark(spec: StudySpec, tracker, result, best_run_id: str) -> None:
    """Name and describe the best trial and the champion; link them from the parent's description."""
    experiment_id, parent_id = result.experiment_id, result.parent_run_id
    holder = None
    try:
        holder = tracker.client.get_model_version_by_alias(result.model_name, result.alias)
    except Exception:  # noqa: BLE001  (no alias holder: nothing registered under that name yet)
        pass
    marks = {}
    test = "  ".join(f"{k} {v:.4g}" for k, v in sorted(result.test.items()))
    if holder is not None and holder.run_id != best_run_id:
        run = tracker.client.get_run(holder.run_id)
        if run.data.tags.get("mlflow.parentRunId") == parent_id:  # this crown's ensemble, or an earlier crown
            number = run.data.tags.get("harness.trial")  # none on an ensemble run
            ensemble = f" Ensemble: {result.ensemble}." if result.ensemble and \
                holder.run_id == result.run_id else ""
            marks[holder.run_id] = (int(number) if number is not None else None, "champion",
                                    f"**Champion**: {result.model_name} version {holder.version}, alias "
                                    f"@{result.alias}.{ensemble}")
    took = holder is not None and holder.run_id == best_run_id
    mark_name = "champion" if took else "best"
    version = f"{result.model_name} version {result.decision.version}"
    registered = (f"a member of the ensemble registered as {version}" if result.best_trial in result.ensemble_trials
                  else f"outdone on validation by the ensemble registered as {version}" if result.ensemble
                  else f"registered as {version}; the alias stayed")
    marks[best_run_id] = (result.best_trial, mark_name,
                          (f"**Champion**: {version}, alias @{result.alias}. " if took else
                           f"**Best trial** of the study, {registered}. ")
                          + f"Test: {test}. {result.decision.message}")
    tree.mark_trials(tracker, experiment_id, parent_id, marks)
    lines = [spec.description.strip(),
             "**Best trial**: "
             f"{tree.run_link(experiment_id, best_run_id, tree.trial_name(result.best_trial, mark_name))}"
             f" — {'  '.join(f'{k} {v:.4g}' for k, v in sorted(result.best_val.items()))}; {test}",
             f"**Champion decision**: {result.decision.message}",
             "**Report**: `report.html` and `report.md` in this run's artifacts; plots under `plots/`."]
    tracker.set_tags(parent_id, {"mlflow.note.content": "\n\n".join(lines).strip()})


def plots_and_report(study: optuna.Study, spec: StudySpec, data, tracker, result, best,
                     drawing: visualize.Drawing | None = None) -> None:
    """The champion's test plots, Optuna's study plots on the parent, then the report that shows them."""
    parent_id, run_id = result.parent_run_id, best.user_attrs["mlflow_run_id"]
    names = objectives.objective_names(spec)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # The model offered to the registry: the best trial's, or the ensemble's that beat it.
        predictions = load_model(result.model_uri or best.user_attrs["model_uri"], tracker.uri).predict(
            data.raw["test"])
        shown = plots.log_champion_plots(tracker, [result.run_id or run_id, parent_id], predictions, data.labels["test"], data.task,
                                         data.target, data.classes, keep=folder)
        notes: list[str] = []

        def draw(into: Path) -> list[Path]:
            files, skipped = drawing.collect(into) if drawing else \
                visualize.study_plots(study, names, spec.study.metric, into)
            notes.extend(skipped)
            return files

        drawn = plots.safely(tracker, [parent_id], "study plots", draw, keep=folder)
        shown += [p for p in drawn if p.suffix == ".png"]
        html = [p for p in drawn if p.suffix == ".html"]
        report.log_report(tracker, parent_id, build_report(study, spec, data, result, best, shown, html, notes),
                          folder)


def build_report(study, spec: StudySpec, data, result, best, shown, html, notes) -> report.Report:
    names = objectives.objective_names(spec)
    primary = names.index(spec.study.metric) if spec.study.metric in names else 0
    trials = [{"number": t.number, "value": (t.values[primary] if t.values else None), "params": t.params}
              for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    goal = (f"{spec.study.direction} {spec.study.metric}" if not spec.study.objectives else
            "objectives " + ", ".join(spec.study.objectives)
            + f"; the champion is the front's best {spec.study.metric}")
    rows = {s: len(v) for s, v in data.raw.items()}
    described = (f"`{spec.data.source}`, target `{data.target}`: {sum(rows.values())} rows "
                 f"(train {rows['train']}, val {rows['val']}, test {rows['test']}).")
    origin = spec.origin
    command = (["# the same study file (it resumes the study if its stores are there):",
                f".venv/bin/harness study {origin}"] if not origin.startswith("--data") else
               ["# quick mode, as run:", f".venv/bin/harness study {origin} --target {data.target}"])
    command += ["# or this run's resolved study file (every --set applied), artifact study.yaml:",
                f".venv/bin/harness study study.yaml --set name={spec.name}-again"]
    return report.Report(
        name=spec.name, description=spec.description, goal=goal, task=data.task, data=described,
        columns=data.columns, notes=list(data.notes) + [f"plot skipped: {n}" for n in notes],
        budget={k: str(v) for k, v in budget(spec).items() if v is not None}, states=result.states,
        best={"number": best.number, "run_id": best.user_attrs["mlflow_run_id"], "params": best.params,
              "val": result.best_val, "test": result.test},
        top=report.top_trials(trials, spec.study.metric), metric=spec.study.metric, baselines=result.baselines,
        vs_baselines=result.vs_baselines, decision=result.decision.message, command=command,
        plots=[str(p) for p in shown],
        links={"interactive study plots": str(p) for p in html})

"""The run tree as the MLflow UI shows it: the parent's params are the space and the budget, its description
links the best trial, the champion is named and tagged, a later better study moves the marks, table trials
carry no image-only params, curves end at the last epoch, plots and the report are artifacts, the saved
table view is on the experiment, and a plot that cannot be drawn never fails a study."""

from __future__ import annotations

import json
import zlib
from base64 import b64decode

import pytest
from mlflow import MlflowClient
from stores import Store, store  # noqa: F401  (the shared-store fixture)

from harness.record import plots, tree
from harness.spec.schema import build_spec
from harness.study import events

RAW = {
    "name": "tree",
    "task": "regression",
    "data": {"source": "experiments/data/house_prices.csv", "target": "price"},
    "model": {"family": "mlp", "hidden": {"int": [4, 16]}, "n_layers": 1},
    "train": {"lr": {"float": [1.0e-3, 1.0e-1], "log": True}, "batch_size": 128, "epochs": 6,
              "early_stopping": {"patience": 2}},
    "study": {"sampler": "random", "pruner": "none", "seed": 0},
    # The marks of a single-trial champion (an ensemble's: tests/test_ensemble_champion.py).
    "register": {"ensemble": False},
}


def runs_of(client: MlflowClient, experiment_name: str) -> dict[str, object]:
    experiment = client.get_experiment_by_name(experiment_name)
    return {r.info.run_name: r for r in client.search_runs([experiment.experiment_id], max_results=100)}


def test_parent_params_marks_curves_plots_report_and_view(store: Store) -> None:
    result, study = store.run(build_spec(RAW, "tree.yaml"), "tree", trials=3)
    client = MlflowClient(store.tracking_uri)
    runs = runs_of(client, "tree")
    parent = runs["study"]
    # The space under the trials' own param names, the budget under its study-file keys.
    assert parent.data.params["hidden"] == "int [4, 16]" and parent.data.params["lr"] == "float [0.001, 0.1] log"
    assert parent.data.params["study.trials"] == "3" and parent.data.params["train.epochs"] == "6"
    assert parent.data.params["study.metric"] == "val/rmse"

    best_run_id = study.best_trial.user_attrs["mlflow_run_id"]
    champion = runs[f"trial-{study.best_trial.number} (champion)"]
    assert champion.info.run_id == best_run_id and champion.data.tags[tree.MARK] == "champion"
    assert "**Champion**" in champion.data.tags["mlflow.note.content"]
    note = parent.data.tags["mlflow.note.content"]
    assert f"(#/experiments/{result.experiment_id}/runs/{best_run_id})" in note and "Champion decision" in note

    for trial in study.trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        # Table trials carry no augment_* params (the study fixes augmentation off).
        assert not [k for k in run.data.params if k.startswith("augment_")]
        curve = client.get_metric_history(run.info.run_id, "epoch/val/rmse")
        assert sorted(m.step for m in curve) == list(range(int(run.data.metrics["epochs_run"])))
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val/rmse")] == [0]
        assert "epoch/train/lr" not in run.data.metrics  # no schedule: the rate is a param, not a flat curve
        assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")][:1] == ["plots/curves.svg"]

    champion_plots = {a.path for a in client.list_artifacts(best_run_id, "plots")}
    assert {"plots/predicted_vs_actual.png", "plots/residuals.png"} <= champion_plots
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.md", "report.html", "study.yaml"} <= parent_files
    parent_plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/optimization_history.png", "plots/param_importances.png", "plots/parallel_coordinate.png",
            "plots/slice.png", "plots/study_plots.html", "plots/predicted_vs_actual.png"} <= parent_plots
    report = client.download_artifacts(parent.info.run_id, "report.md", str(store.root))
    text = open(report).read()
    for section in ("## Goal", "## Data", "| lotsize | numeric |", "## Budget",
                    "## Best trial", "## Top 3 trials by val/rmse", "## Baselines", "## Champion", "## Plots",
                    "## Reproduce", "--set name=tree-again"):
        assert section in text, section
    html = open(client.download_artifacts(parent.info.run_id, "report.html", str(store.root))).read()
    assert html.count("data:image/png;base64,") >= 5  # the plots travel inside the page

    # The saved table view, in the format MLflow's UI reads (name + deflated state).
    saved = json.loads(client.get_experiment(result.experiment_id).tags[tree.VIEW_TAG + tree.VIEW_KEY])
    state = json.loads(zlib.decompress(b64decode(saved["state"].removeprefix("deflate;"))))
    assert saved["name"] == tree.VIEW_NAME and state["selectedColumns"][0] == "metrics.`val/rmse`"
    assert state["orderByAsc"] is True and state["runsHiddenMode"] == "SHOW_ALL"
    assert "params.`lr`" in state["selectedColumns"]

    # The same study resumed with longer training: whoever holds the alias is the one run named champion,
    # and the study's best is named champion or best; marks from the first crown do not linger.
    better = dict(RAW, train={**RAW["train"], "epochs": 40, "early_stopping": {"patience": 10}})
    store.run(build_spec(better, "tree.yaml"), "tree", trials=2)
    resumed = store.study("tree")
    holder = client.get_model_version_by_alias("tree", "champion")
    runs = runs_of(client, "tree")
    assert [r.info.run_id for name, r in runs.items() if "(champion)" in name] == [holder.run_id]
    best_name = client.get_run(resumed.best_trial.user_attrs["mlflow_run_id"]).info.run_name
    assert best_name.endswith(("(champion)", "(best)"))
    assert len([name for name in runs if name.endswith(("(champion)", "(best)"))]) <= 2


def test_a_plot_that_cannot_be_drawn_is_a_note_not_a_failure(store: Store, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(plots, "curves_svg", broken)
    monkeypatch.setattr("harness.search.visualize.study_plots", broken)
    result, study = store.run(build_spec(RAW, "tree.yaml"), "tree-broken", trials=2)
    assert result.states == {"COMPLETE": 2}
    client = MlflowClient(store.tracking_uri)
    run = client.get_run(study.trials[0].user_attrs["mlflow_run_id"])
    assert run.data.tags[plots.NOTE_TAG] == "learning curves not drawn: RuntimeError: no fonts today"
    parent = client.get_run(result.parent_run_id)
    assert "study plots not drawn" in parent.data.tags[plots.NOTE_TAG]
    assert "report.md" in {a.path for a in client.list_artifacts(result.parent_run_id)}


def test_events_poll_shows_trials_any_worker_finished(store: Store) -> None:
    """A parent process watching workers: poll() reads finished trials from the study's storage."""
    _, study = store.run(build_spec(RAW, "tree.yaml"), "tree-poll", trials=2)
    seen: set[int] = set()
    first = events.poll(store.study("tree-poll"), seen)
    assert [e.number for e in first] == [0, 1] and all(e.state == "COMPLETE" for e in first)
    assert first[-1].best_value == pytest.approx(study.best_value) and first[0].params.keys() == {"hidden", "lr"}
    assert first[0].seconds > 0
    assert events.poll(store.study("tree-poll"), seen) == []  # nothing new since

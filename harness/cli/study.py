"""`harness study`: run or resume a study (a study file, or quick mode on a table or images), then the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import (
    app,
    echo,
    fail,
    interrupted,
    quiet_libraries,
    stop_on_signals,
    storage_option,
    tracking_option,
)
from harness.errors import HarnessError


@app.command()
def study(
    study_file: Optional[Path] = typer.Argument(None, help="Study file, e.g. experiments/house_prices.yaml."),
    data: Optional[str] = typer.Option(None, "--data", help="Quick mode: a CSV/Parquet file, or images (an .npz "
                                      "with arrays images and labels, or a folder of a sub-folder per class); no "
                                      "study file needed."),
    target: Optional[str] = typer.Option(None, "--target", help="Quick mode: the column to predict (images: "
                                        "the .npz array of labels, if not `labels`)."),
    task: str = typer.Option("auto", "--task", help="Quick mode: regression, classification or auto."),
    name: Optional[str] = typer.Option(None, "--name", help="Quick mode: study name (default: the file's name)."),
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Trials to run now (overrides study.trials); "
                                         "with --workers, the study's total."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=1, help="Seconds after which no trial starts."),
    set_: list[str] = typer.Option([], "--set", help="Override any value: --set train.epochs=50 (repeatable)."),
    storage: Optional[str] = storage_option(),
    tracking_uri: Optional[str] = tracking_option(),
    warm_start_from: Optional[str] = typer.Option(None, "--warm-start-from", metavar="STUDY",
                                                  help="Try the best 3 trials of this earlier study (same "
                                                       "Optuna storage) first."),
    drop: list[str] = typer.Option([], "--drop", metavar="COL[,COL]",
                                   help="Quick mode: columns to leave out (identifiers are dropped anyway)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, only the summary at the end."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes on this machine; "
                                          "--trials is then the study's total, shared with every other worker "
                                          "(any machine) of the same study."),
    workers_per_gpu: Optional[int] = typer.Option(None, "--workers-per-gpu", min=1, help="Workers sharing each "
                                                  "GPU (worker i gets GPU i mod the count); default --workers "
                                                  "is this times the GPUs."),
    worker_slot: Optional[str] = typer.Option(None, "--worker-slot", hidden=True,
                                              help="i/N: one of N workers that `--workers N` started."),
) -> None:
    """Run (or resume) a study: every trial a child run in MLflow, the best one registered as champion."""
    if (study_file is None) == (data is None):
        fail("give a study file (harness study experiments/house_prices.yaml) or --data FILE --target COLUMN")
    from harness.data.images import is_image_source

    images = data is not None and is_image_source(data)  # an .npz or a folder: labelled already
    if data is not None and not target and not images:
        fail(f"--data {data} needs --target COLUMN: the column to predict")
    if drop and images:
        fail(f"--drop is for tables; --data {data} is images")
    if task not in ("auto", "regression", "classification"):
        fail(f"--task must be auto, regression or classification, got {task!r}")
    if drop and study_file is not None:
        fail("--drop is for quick mode (--data); in a study file, list the columns under data.drop")
    slot = _slot(worker_slot)
    quiet_libraries()
    stop_on_signals()
    from harness.cli.progress import Progress
    from harness.cli.summary import summary
    from harness.errors import mask_credentials

    # With several workers on this machine their trial lines are printed as they come: no live table.
    progress = Progress("quiet" if quiet else "plain") if slot is not None or (workers or 1) > 1 \
        else Progress.for_terminal(quiet)
    shown = None if slot is not None else progress  # a worker prints its own trials, with its prefix

    def say(line: str) -> None:
        progress.echo(mask_credentials(line))

    try:
        if study_file:
            from harness.spec.schema import load_spec

            spec = load_spec(study_file, set_)
        elif images:
            from harness.spec.quick_images import quick_image_spec

            spec = quick_image_spec(data, target, task, name, set_)
        else:
            from harness.spec.quick import quick_spec  # pandas: imported only when a table is read

            dropped = [c.strip() for item in drop for c in item.split(",") if c.strip()]
            spec = quick_spec(data, target, task, name, set_, drop=dropped)
        if study_file is None:
            say(f"quick mode: {spec.description}")
        from harness.study import run_study

        result = run_study(spec, trials=trials, timeout=timeout, storage=storage, tracking_uri=tracking_uri,
                           warm_start_from=warm_start_from, echo=say, progress=shown, workers=workers,
                           workers_per_gpu=workers_per_gpu, worker_slot=slot, quiet_workers=quiet)
    except HarnessError as err:
        fail(str(err))
    except KeyboardInterrupt as err:
        interrupted(err, slot is None)
    finally:
        progress.close()
    if result is not None:
        echo(summary(result, spec))


def _slot(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        fail(f"--worker-slot {text}: give i/N with 0 <= i < N (it is set by --workers; not for direct use)")
    return int(index), int(count)


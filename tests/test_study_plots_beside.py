"""Optuna's study plots drawn in a forked process beside the crown (search/visualize.py): the same files
as drawn in the study's own process, the stores untouched, a failure told back as a note's text."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from harness.search import visualize


def _study() -> optuna.Study:
    study = optuna.create_study(study_name="plots", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("lr", 1e-4, 1e-1, log=True) - 0.01) ** 2 + t.suggest_int("n", 1, 3),
                   n_trials=8)
    return study


def test_the_plots_drawn_beside_are_the_plots_drawn_here(tmp_path: Path) -> None:
    study = _study()
    drawing = visualize.draw_beside(study, ["val/loss"], "val/loss")
    try:
        assert drawing.process.pid != os.getpid()
        (tmp_path / "beside").mkdir()
        files, notes = drawing.collect(tmp_path / "beside")
    finally:
        drawing.close()
    (tmp_path / "here").mkdir()
    here, here_notes = visualize.study_plots(study, ["val/loss"], "val/loss", tmp_path / "here")
    assert sorted(p.name for p in files) == sorted(p.name for p in here) and notes == here_notes
    assert {"optimization_history.png", "slice.png", "study_plots.html"} <= {p.name for p in files}
    assert all(p.parent == tmp_path / "beside" and p.stat().st_size > 1000 for p in files)
    assert not drawing.folder.exists(), "close() leaves no temporary folder"


def test_a_drawing_that_fails_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(visualize, "study_plots", broken)  # inherited by the fork
    drawing = visualize.draw_beside(_study(), ["val/loss"], "val/loss")
    try:
        with pytest.raises(visualize.NotDrawn, match="RuntimeError: no fonts today"):
            drawing.collect(tmp_path)
    finally:
        drawing.close()

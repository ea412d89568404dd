"""Progress in the terminal: a live table on a terminal, plain lines otherwise, nothing with --quiet; the
ETA comes from the budget (trials left at the mean pace, within the timeout)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import run_cli
from rich.console import Console

from harness.cli.progress import Progress
from harness.study.events import StudyStart, TrialEvent

START = StudyStart("demo", "val/rmse", "minimize", planned=4, done_before=0, timeout=None)


def trial(number: int, state: str = "COMPLETE", value: float | None = 2.0, best: float | None = 1.5) -> TrialEvent:
    return TrialEvent(number, state, {"lr": 0.00123, "family": "mlp"}, value, [value] if value else None, best,
                      0 if best is not None else None, seconds=1.25, detail="" if state != "FAIL" else "diverged")


def test_plain_lines_with_params_best_and_eta(capsys) -> None:
    progress = Progress("plain")
    progress(START)
    progress(trial(0))
    progress(trial(1, "PRUNED", value=None))
    progress(trial(2, "FAIL", value=None))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("  trial   0 COMPLETE val/rmse 2  (best 1.5, trial 0)  lr=0.00123 family=mlp  [1.2s, ETA")
    assert "PRUNED   pruned" in out[1] and "FAIL     diverged" in out[2]
    progress.echo("  note: something")
    assert capsys.readouterr().out == "  note: something\n"


def test_live_table_shows_trials_best_and_status() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=140, record=True)
    progress = Progress("live", console=console)
    progress(START)
    progress(trial(0, best=2.0))
    progress(trial(1, "PRUNED", value=None, best=2.0))
    progress.close()
    text = console.export_text()
    assert "val/rmse" in text and "pruned" in text and "lr=0.00123 family=mlp" in text
    assert "2/4 trials" in text and "best val/rmse 2 (trial 0)" in text and "ETA" in text


def test_eta_is_bounded_by_the_timeout() -> None:
    progress = Progress("quiet")
    progress(StudyStart("demo", "val/rmse", "minimize", planned=1000, done_before=0, timeout=5.0))
    progress(trial(0))
    assert progress.eta() <= 5.0


def test_quiet_shows_nothing_but_warnings(capsys) -> None:
    progress = Progress("quiet")
    progress(START)
    progress(trial(0))
    progress.echo("  note: chatter")
    progress.echo("warning: this one matters")
    assert capsys.readouterr().out == "warning: this one matters\n"


@pytest.mark.slow
def test_quiet_study_prints_only_the_summary(workdir: Path) -> None:
    out = run_cli("study", "experiments/linear_synthetic.yaml", "--quiet", "--trials", "2", "--set",
                  "train.epochs=3").stdout
    assert "trial   0" not in out and "  baseline ridge" not in out and "columns:" not in out
    assert "study linear-synthetic: 2 complete" in out and "next, from the repository root:" in out

"""A study's progress in the terminal, fed by the study's events (harness/study/events.py):

    live   (stdout is a terminal): a rich table of the latest trials (number, state, key params, the study
           metric, best so far, time) under a status line (done/planned, best, elapsed, ETA from the budget)
    plain  (a pipe, a log file, CI): one line per trial, with the ETA
    quiet  (--quiet): nothing but warnings; the summary still prints at the end

The events carry everything shown (state, params, values and times come from Optuna's record of the
trial), so the same display serves a parent process polling trials that other workers finish.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.study.events import StudyStart, TrialEvent, key_params, plain_line

ROWS = 12  # trials kept on screen; the MLflow UI and `harness runs` have them all
STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    """Shows a study's events; `echo` prints any other line (notes, baselines) without breaking the table."""

    def __init__(self, mode: str, console: Console | None = None):
        self.mode = mode  # live, plain or quiet
        self.console = console or Console(highlight=False)
        self.plan: StudyStart | None = None
        self.started = time.monotonic()
        self.events: list[TrialEvent] = []
        self.live: Live | None = None

    @classmethod
    def for_terminal(cls, quiet: bool) -> Progress:
        return cls("quiet" if quiet else "live" if sys.stdout.isatty() else "plain")

    def echo(self, line: str) -> None:
        if self.mode == "quiet" and not line.lstrip().startswith(("warning", "error")):
            return
        if self.live is not None:
            self.live.console.print(Text(line))
        else:
            print(line, flush=True)

    def __call__(self, event) -> None:
        if isinstance(event, StudyStart):
            self.plan, self.started = event, time.monotonic()
            if self.mode == "live":
                self.live = Live(self, console=self.console, refresh_per_second=2, transient=False)
                self.live.start()
            return
        self.events.append(event)
        if self.mode == "plain":
            print(plain_line(event, self.metric, self.names, eta=self.eta_text(", ")), flush=True)
        elif self.live is not None:
            self.live.refresh()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    @property
    def metric(self) -> str:
        return self.plan.metric if self.plan else "value"

    @property
    def names(self) -> list[str]:
        return (self.plan.objectives if self.plan else []) or [self.metric]

    def eta(self) -> float | None:
        """Seconds left: the mean trial time so far times the trials left, within the timeout if any."""
        if not self.plan or not self.events:
            return None
        elapsed = time.monotonic() - self.started
        left = elapsed / len(self.events) * max(self.plan.planned - len(self.events), 0)
        if self.plan.timeout:
            left = min(left, max(self.plan.timeout - elapsed, 0))
        return left

    def eta_text(self, prefix: str = "") -> str:
        left = self.eta()
        return "" if left is None else f"{prefix}ETA {duration(left)}"

    def status(self) -> Text:
        """done/planned, best so far, elapsed and ETA."""
        planned = self.plan.planned if self.plan else 0
        best = next((e for e in reversed(self.events) if e.best_value is not None), None)
        parts = [f"{len(self.events)}/{planned} trials"]
        if best is not None:
            parts.append(f"best {self.metric} {best.best_value:.4g} (trial {best.best_number})")
        elif self.events and self.events[-1].front is not None:
            parts.append(f"Pareto front: {self.events[-1].front} trials")
        parts.append(f"elapsed {duration(time.monotonic() - self.started)}")
        if self.eta() is not None and len(self.events) < planned:
            parts.append(self.eta_text())
        return Text("  ".join(parts), style="bold")

    def table(self) -> Table:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column, justify in (("trial", "right"), ("state", "left"), (self.metric, "right"),
                                ("best", "right"), ("time", "right"), ("params", "left")):
            table.add_column(column, justify=justify, no_wrap=column != "params")
        for event in self.events[-ROWS:]:
            value = "" if event.value is None else f"{event.value:.4g}"
            best = "" if event.best_value is None else f"{event.best_value:.4g}"
            state = Text(event.state.lower(), style=STYLE.get(event.state, ""))
            detail = key_params(event.params) + (f"  {event.detail[:60]}" if event.detail else "")
            table.add_row(str(event.number), state, value, best, f"{event.seconds:.1f}s", detail)
        return table

    def __rich__(self) -> Group:
        return Group(self.table(), self.status())

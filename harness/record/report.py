"""The study report on the parent run, `report.md` and `report.html` (the same text; the HTML carries its
plots inside, so it opens anywhere, MLflow's artifact viewer included):

goal, data and how each column was treated, budget, best trial, the top 10, baselines, the champion
decision, plots, and the command that reproduces the study.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from harness.record.baselines import Baseline, number
from harness.spec.names import minimized


@dataclass
class Report:
    """Everything the report says, as plain values (the study room gathers them)."""

    name: str
    description: str
    goal: str  # `minimize val/rmse`, or the objectives
    task: str
    data: str  # source, target, rows per split
    columns: list[tuple[str, str, str]]  # (column, treatment, detail)
    notes: list[str]
    budget: dict[str, str]
    states: dict[str, int]
    best: dict  # number, run_id, params, val, test
    top: list[dict]  # number, state, value, params (the best first)
    metric: str
    baselines: list[Baseline]
    vs_baselines: str | None
    decision: str
    command: list[str]  # how to reproduce, one line each
    plots: list[str] = field(default_factory=list)  # artifact paths on the parent run (plots/<name>.png)
    links: dict[str, str] = field(default_factory=dict)  # extra links: label -> artifact path


def _cell(value) -> str:
    if isinstance(value, float):
        return number(value)
    return str(value).replace("|", "\\|")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def markdown(report: Report) -> str:
    """The report as Markdown, plots referenced by their artifact path on the parent run."""
    out = [f"# Study {report.name}", ""]
    if report.description:
        out += [report.description, ""]
    out += ["## Goal", "", f"{report.task}: {report.goal}.", "", "## Data", "", report.data, ""]
    if report.columns:
        out += _table(["column", "treatment", "detail"], [list(c) for c in report.columns])
    out += [f"- note: {n}" for n in report.notes] + ([""] if report.notes else [])
    out += ["## Budget", ""] + [f"- {k}: {v}" for k, v in report.budget.items()]
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(report.states.items()))
    out += [f"- trials run: {states}", ""]
    best = report.best
    out += ["## Best trial", "", f"Trial {best['number']} (run `{best['run_id']}`).", ""]
    out += _table(["metric", "value"], [[k, v] for k, v in {**best["val"], **best["test"]}.items()])
    out += _table(["param", "value"], [[k, v] for k, v in best["params"].items()])
    out += [f"## Top {len(report.top)} trials by {report.metric}", ""]
    keys = sorted({k for t in report.top for k in t["params"]})
    out += _table(["trial", report.metric, *keys],
                  [[t["number"], t["value"], *(t["params"].get(k, "") for k in keys)] for t in report.top])
    if report.baselines:
        names = sorted({k for b in report.baselines for k in b.metrics})
        out += ["## Baselines", "", "Fitted on the same preprocessed features and splits as the trials.", ""]
        out += _table(["baseline", *names], [[b.name, *(b.metrics.get(k, "") for k in names)]
                                              for b in report.baselines])
        if report.vs_baselines:
            out += [report.vs_baselines, ""]
    out += ["## Champion", "", report.decision, ""]
    if report.plots:
        out += ["## Plots", ""]
        out += [f"![{Path(p).stem}]({p})" for p in report.plots] + [""]
    for label, path in report.links.items():
        out += [f"- {label}: `{path}` (an artifact of this run)"]
    out += ["", "## Reproduce", "", "```bash", *report.command, "```", ""]
    return "\n".join(out)


def to_html(text: str, images: dict[str, bytes], title: str) -> str:
    """The Markdown rendered to one self-contained page: each referenced PNG embedded as a data URI."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(text)
    for path, data in images.items():
        body = body.replace(f'src="{path}"', f'src="data:image/png;base64,{base64.b64encode(data).decode()}"')
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
             "text-align:left;font-size:90%}img{max-width:100%;display:block;margin:1em 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>")


def top_trials(trials: list[dict], metric: str, k: int = 10) -> list[dict]:
    """The k best complete trials by the study metric (dicts with number, value, params)."""
    done = [t for t in trials if t["value"] is not None]
    return sorted(done, key=lambda t: t["value"], reverse=not minimized(metric))[:k]


def log_report(tracker, run_id: str, report: Report, folder: Path) -> list[str]:
    """Write report.md and report.html (plots embedded from `folder`) and log them on the run."""
    text = markdown(report)
    images = {p: (folder / Path(p).name).read_bytes() for p in report.plots if (folder / Path(p).name).exists()}
    (folder / "report.md").write_text(text)
    (folder / "report.html").write_text(to_html(text, images, f"Study {report.name}"))
    for name in ("report.md", "report.html"):
        tracker.client.log_artifact(run_id, str(folder / name))
    return ["report.md", "report.html"]

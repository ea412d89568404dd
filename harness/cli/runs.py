"""`harness runs STUDY`: the study's trials and baselines compared in the terminal, read from MLflow."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from harness.cli.app import app, fail, quiet_libraries, tracking_option
from harness.errors import HarnessError


def cell(value) -> str:
    if isinstance(value, str) and "." in value:  # params come back as text: show numbers short
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float):
        return "" if value != value else f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


@app.command()
def runs(
    study: str = typer.Argument(..., help="The study's name (its MLflow experiment)."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Only the best K runs."),
    csv: bool = typer.Option(False, "--csv", help="Write CSV to stdout instead of a table."),
    tracking_uri: Optional[str] = tracking_option(),
) -> None:
    """Compare a study's runs: the study metric first and sorted on, then the params that differ."""
    quiet_libraries()
    try:
        from mlflow import MlflowClient

        from harness.record.compare import study_table
        from harness.record.store import default_tracking_uri

        table, metric = study_table(MlflowClient(tracking_uri or default_tracking_uri()), study, top)
    except HarnessError as err:
        fail(str(err))
    if csv:
        table.to_csv(sys.stdout, index=False)
        return
    from rich.console import Console
    from rich.table import Table

    shown = Table(title=f"study {study}: {len(table)} runs, best {metric} first", box=None, header_style="bold")
    for column in table.columns:
        shown.add_column(str(column), justify="left" if column in ("run", "state") else "right")
    for row in table.itertuples(index=False):
        shown.add_row(*(cell(v) for v in row))
    console = Console()
    needed = sum(max(len(str(c)), *(len(cell(v)) for v in table[c])) + 2 for c in table.columns) if len(table) else 80
    Console(width=max(console.width, needed)).print(shown)  # never squash a column to "…"

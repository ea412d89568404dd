"""`harness models NAME`: a registered model's versions, aliases and test metrics; `--promote VERSION` and
`--rollback` move an alias by hand, with the reason recorded on the registered model."""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.app import app, fail, quiet_libraries, tracking_option
from harness.errors import HarnessError


@app.command()
def models(
    name: str = typer.Argument(..., help="The registered model's name, e.g. house-prices."),
    promote: Optional[str] = typer.Option(None, "--promote", metavar="VERSION", help="Move the alias to VERSION."),
    rollback: bool = typer.Option(False, "--rollback", help="Move the alias back to the version it left last."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (required with --promote and --rollback)."),
    alias: str = typer.Option("champion", "--alias", help="The alias to move."),
    tracking_uri: Optional[str] = tracking_option(),
) -> None:
    """List a registered model's versions (aliases, study, trial, test metrics), or move an alias."""
    if promote and rollback:
        fail("--promote and --rollback: give one of them")
    if (promote or rollback) and not (reason or "").strip():
        fail(f"--{'promote' if promote else 'rollback'} needs --reason TEXT: the move is recorded with it")
    quiet_libraries()
    try:
        from mlflow import MlflowClient

        from harness.record.store import default_tracking_uri
        from harness.serve import versions

        client = MlflowClient(tracking_uri or default_tracking_uri())
        if promote:
            typer.echo(versions.promote(client, name, alias, promote, reason))
        elif rollback:
            typer.echo(versions.rollback(client, name, alias, reason))
        rows = versions.versions_table(client, name)
        moves = versions.alias_log(client, name)
    except HarnessError as err:
        fail(str(err))
    from rich.console import Console
    from rich.table import Table

    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = Table(title=f"registered model {name}", box=None, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns))
    console = Console(width=max(120, Console().width))
    console.print(table)
    for move in moves[-5:]:
        console.print(f"  {move['when']}  @{move['alias']}: {move['from'] or 'none'} -> {move['to']}  {move['why']}",
                      highlight=False)

"""`harness serve`: a registered (or logged) model behind MLflow's REST scoring server on 127.0.0.1."""

from __future__ import annotations

import os
from typing import Optional

import typer

from harness.cli.app import app, fail, quiet_libraries, tracking_option
from harness.errors import HarnessError


@app.command()
def serve(
    model_uri: str = typer.Argument(..., help="e.g. models:/house-prices@champion"),
    port: int = typer.Option(5001, "--port", help="Port on 127.0.0.1."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 opens it to the network)."),
    tracking_uri: Optional[str] = tracking_option(),
) -> None:
    """Serve a model over REST: POST /invocations {"dataframe_split": {"columns": [...], "data": [[...]]}}."""
    quiet_libraries()
    try:
        from harness.record.store import default_tracking_uri
        from harness.serve.rest import server_command

        argv, env = server_command(model_uri, tracking_uri or default_tracking_uri(), host, port)
    except HarnessError as err:
        fail(str(err))
    typer.echo(f"serving {model_uri} at http://{host}:{port}/invocations (GET /ping answers when ready; Ctrl-C "
               "stops it)", err=True)
    os.execve(argv[0], argv, env)  # the server replaces this process: one PID to stop

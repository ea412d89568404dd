"""`harness predict`: predictions of a registered (or logged) model for a raw file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import app, fail, quiet_libraries
from harness.errors import HarnessError


@app.command()
def predict(
    model_uri: str = typer.Argument(..., help="e.g. models:/house-prices@champion or runs:/<run id>/model"),
    file: str = typer.Argument(..., help="A raw CSV/Parquet table (extra columns such as the target are ignored); "
                               "for a model of images, an .npz (array `images`) or a folder of image files; or a "
                               "study's data source such as sklearn:wine."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write predictions to this CSV."),
    keep: list[str] = typer.Option([], "--keep", metavar="COL[,COL]", help="Input columns to pass through."),
    key: Optional[str] = typer.Option(None, "--id", metavar="COL", help="The input's id column (default: one "
                                      "named id or *_id, else `row`, the row's position from 0)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
) -> None:
    """Predict one row per input row (or image) with a registered (or logged) model."""
    quiet_libraries()
    try:
        from harness.record.tracking import default_tracking_uri
        from harness.serve.predict import predict_file

        kept = [c.strip() for item in keep for c in item.split(",") if c.strip()]
        result = predict_file(model_uri, file, tracking_uri or default_tracking_uri(), keep=kept, key=key)
    except HarnessError as err:
        fail(str(err))
    if output:
        partial = output.with_name(output.name + ".partial")
        result.to_csv(partial, index=False)
        partial.replace(output)  # never a half-written file
        typer.echo(f"wrote {len(result)} predictions to {output}", err=True)
    else:
        result.to_csv(sys.stdout, index=False)

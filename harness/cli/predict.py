"""`harness predict`: predictions of a registered (or logged) model for a raw file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import app, fail, quiet_libraries, tracking_option
from harness.errors import HarnessError
from harness.spec.names import is_named_source


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
    tracking_uri: Optional[str] = tracking_option(),
    strict: bool = typer.Option(False, "--strict", help="Refuse a file with values the model would have to guess "
                                "about (text in a number column, a missing number, an unseen or empty category) "
                                "instead of warning about them."),
) -> None:
    """Predict one row per input row (or image) with a registered (or logged) model."""
    if not Path(file).exists() and not is_named_source(file):  # before the model loads: known at once
        fail(f"{file}: no such file; give a CSV/Parquet table, an .npz of images or a folder of image files")
    if output is not None:
        check_output(output)
    quiet_libraries()
    try:
        from harness.record.store import check_tracking_store, default_tracking_uri
        from harness.serve.predict import predict_file

        kept = [c.strip() for item in keep for c in item.split(",") if c.strip()]
        store = tracking_uri or default_tracking_uri()
        try:
            check_tracking_store(store, create=False)
        except HarnessError as err:
            raise HarnessError(f"cannot load {model_uri}: {err}") from None
        result = predict_file(model_uri, file, store, keep=kept, key=key, strict=strict,
                              warn=lambda line: typer.echo(f"warning: {line}", err=True))
    except HarnessError as err:
        fail(str(err))
    if output:
        partial = output.with_name(output.name + ".partial")
        try:
            result.to_csv(partial, index=False)
            partial.replace(output)  # never a half-written file
        except OSError as err:
            partial.unlink(missing_ok=True)
            fail(f"-o {output}: cannot write it ({err.strerror or err})")
        typer.echo(f"wrote {len(result)} predictions to {output}", err=True)
    else:
        result.to_csv(sys.stdout, index=False)


def check_output(output: Path) -> None:
    """`-o` names a file in a folder that exists."""
    if output.is_dir():
        fail(f"-o {output}: is a folder; name the CSV file to write, e.g. -o {output / 'predictions.csv'}")
    if not output.parent.is_dir():
        fail(f"-o {output}: folder {output.parent} does not exist; create it first (mkdir -p {output.parent})")

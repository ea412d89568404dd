"""The `harness` command: one module per command, each registering itself on the app in cli/app.py.

    study    run or resume a study            predict  a model's predictions for a raw file
    runs     a study's runs compared          models   a registered model's versions; move its alias
    serve    a model behind a REST endpoint   ui       the MLflow UI on the store
"""

from harness.cli import models, predict, runs, serve, study, ui  # noqa: F401  (importing registers each command)
from harness.cli.app import app, run


def main() -> None:
    run()

"""The `harness` command: one module per command, each registering itself on the app in cli/app.py.

    study    run or resume a study            predict  a model's predictions for a raw file
    ui       the MLflow UI on the store       crown    crown a study whose workers all died
    check    audit a study against MLflow and the registry
"""

from harness.cli import check, crown, predict, study, ui  # noqa: F401  (importing a command module registers it)
from harness.cli.app import app


def main() -> None:
    app()

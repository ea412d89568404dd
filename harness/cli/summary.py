"""The end of `harness study`: the result, then what to do next as commands that run as printed in a fresh
shell from the repository root (`make ui`, `.venv/bin/harness ...`: nothing to activate, no variable to
export), the direct URLs of the runs page and of the saved comparison view, and what the columns mean.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

UI_PORT = 5000  # `make ui` and `harness ui` serve here; HARNESS_UI_PORT moves both the command and the URLs
COLUMNS = """what the numbers mean (table columns in the MLflow UI and `harness runs`):
  {metric:<14} the study metric: each trial's best epoch on the validation rows (what Optuna ranked)
  val/*          the same epoch's other validation metrics; test/* the test rows, scored once for the
                 best trial and the baselines only
  epoch/*        per-epoch curves (charts: step = epoch); best_epoch, epochs_run: where training stopped
  params         what each trial drew; on the parent `study` run: the search space and the budget
  trial-N (champion), (best), (pruned), (failed): the run names say what stands out"""


def shell_path(path: Path) -> str:
    """A path as typed at the repository root: relative when the study ran there, else absolute."""
    path = Path(path).resolve()
    try:
        if not Path("Makefile").exists():
            raise ValueError("not the repository root")
        return shlex.quote(str(path.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(path))


def harness_command() -> str:
    """This installation's `harness`, so the command runs without activating the venv."""
    beside = Path(sys.executable).with_name("harness")
    return shell_path(beside) if beside.exists() else "harness"


def embedded_store() -> str:
    return f"sqlite:///{Path('mlruns').resolve() / 'mlflow.db'}"


def ui_port() -> int:
    return int(os.environ.get("HARNESS_UI_PORT", UI_PORT))


def ui_lines(store: str, experiment_id: str) -> list[str]:
    """The UI command for the store (none for a tracking server: it is the UI) and the two URLs."""
    from harness.record.tree import ui_urls

    port = ui_port()
    if store.startswith(("http://", "https://")):
        base, command = store, None
    else:
        base = f"http://127.0.0.1:{port}"
        if store == embedded_store() and Path("Makefile").exists() and port == UI_PORT:
            command = "make ui"
        else:
            command = f"{harness_command()} ui --tracking-uri {shlex.quote(store)}" + (
                f" --port {port}" if port != UI_PORT else "")
    runs, view = ui_urls(base, experiment_id)
    lines = [f"  {command:<60} # the MLflow UI on this store (Ctrl-C stops it), then open:"] if command else []
    return lines + [f"  {runs}   # runs: [+] beside `study` shows its trials",
                    f"  {view}   # comparison: trials and baselines, best first"]


def predict_input(spec) -> str:
    """A file (or data source) the model can predict on: the study's own."""
    source = spec.data.source
    return shell_path(Path(source)) if Path(source).exists() else shlex.quote(source)


def summary(result, spec) -> str:
    """The lines printed at the end of a study."""
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.states.items()))
    fmt = lambda metrics: "  ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))  # noqa: E731
    store = result.tracking_uri
    # A fresh shell at the repository root reads the embedded store there; any other store is named.
    at_root = store == embedded_store() and Path("Makefile").exists()
    store_flag = "" if at_root else f" --tracking-uri {shlex.quote(store)}"
    harness = harness_command()
    uri = f"models:/{result.model_name}@{result.alias}"
    output = Path(tempfile.gettempdir()) / f"{result.model_name}-predictions.csv"
    return "\n".join([
        "",
        f"study {result.name}: {states}",
        f"best trial   {result.best_trial}",
        *([f"ensemble     {result.ensemble}"] if result.ensemble else []),
        *([f"selection    {result.selection}"] if result.selection else []),
        f"  validation {fmt(result.best_val)}",
        f"  test       {fmt(result.test)}",
        *([f"vs baselines {result.vs_baselines}"] if result.vs_baselines else []),
        f"champion     {result.decision.message}",
        f"report       report.html on the parent run {result.parent_run_id} (experiment {result.experiment_id})",
        "",
        "next, from the repository root:",
        *ui_lines(store, result.experiment_id),
        f"  {harness} runs {result.name} --top 10{store_flag}   # the comparison in the terminal",
        f"  {harness} models {result.model_name}{store_flag}   # versions, aliases and their test metrics",
        f"  {harness} predict {uri} {predict_input(spec)} -o {shlex.quote(str(output))}{store_flag}",
        "",
        COLUMNS.format(metric=result.metric),
    ])

"""A new user's path after a study, as they meet it: every command the summary prints runs as printed in a
fresh shell from the repository root (no venv activated, no MLFLOW_TRACKING_URI), the UI command serves the
printed URLs, and a real headless Chromium finds the study, its trials, their metrics, the champion's
learning curve and the registered model's `@ champion`.

Screenshots land in a temp folder printed by the test (HARNESS_SCREENSHOTS overrides it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from helpers import HARNESS, ROOT

# Its module fixture is built once: on one xdist worker, not once per worker (make test runs -n 2).
pytestmark = pytest.mark.xdist_group("user-journey")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
WAIT_MS = 30_000  # the UI draws in about 2 s on a quiet machine; this one is shared


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_shell_env() -> dict[str, str]:
    """A new terminal's environment: no MLflow variables, no venv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HARNESS_", "VIRTUAL_ENV"))}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def printed_next_steps(summary: str) -> tuple[list[str], list[str]]:
    """The commands and URLs under `next, from the repository root:` (a `# ...` comment ends a line)."""
    lines = summary.split("next, from the repository root:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    steps = [line.split("   # ")[0].split(" # ")[0].strip() for line in lines]
    return [s for s in steps if not s.startswith("http")], [s for s in steps if s.startswith("http")]


def wait_for(url: str, seconds: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    """A tiny study run through the CLI, its summary, and the UI started with the command it printed."""
    root = tmp_path_factory.mktemp("journey")
    shutil.copytree(ROOT / "experiments", root / "experiments")
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlruns/mlflow.db", "HARNESS_UI_PORT": str(port),
           "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    (root / "mlruns").mkdir()
    study = subprocess.run([*HARNESS, "study", "experiments/house_prices.yaml", "--trials", "6", "--set",
                            "train.epochs=12", "--set", "study.pruner=none"], cwd=root, env=env,
                           capture_output=True, text=True, timeout=900)
    assert study.returncode == 0, study.stdout + study.stderr
    commands, urls = printed_next_steps(study.stdout)
    ui_commands = [c for c in commands if " ui" in c.split("#")[0] or c.startswith("make ui")]
    assert len(ui_commands) == 1, commands
    server = subprocess.Popen(ui_commands[0], shell=True, cwd=ROOT, env=fresh_shell_env(), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", 120, server)
        yield {"root": root, "summary": study.stdout, "commands": commands, "urls": urls, "port": port,
               "ui": ui_commands[0]}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


@pytest.mark.slow
def test_every_command_the_summary_prints_runs_as_printed(journey) -> None:
    commands, urls = journey["commands"], journey["urls"]
    harness_commands = [c for c in commands if c != journey["ui"]]
    assert {c.split()[1] for c in harness_commands} == {"runs", "models", "predict"}, commands
    assert all(Path(c.split()[0]).name == "harness" and Path(c.split()[0]).is_absolute() for c in harness_commands)
    outputs = {}
    for command in harness_commands:
        proc = subprocess.run(command, shell=True, cwd=ROOT, env=fresh_shell_env(), capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        outputs[command.split()[1]] = proc.stdout
    assert "(champion)" in outputs["runs"] and "val/rmse" in outputs["runs"]
    assert "@champion" in outputs["models"] and "test/rmse" in outputs["models"]
    written = Path(next(c for c in harness_commands if " predict " in c).split(" -o ")[1].split()[0])
    predictions = pd.read_csv(written)
    assert list(predictions.columns) == ["row", "prediction"] and len(predictions) == 546
    assert not str(written).startswith(str(ROOT)), "predictions are written outside the repository"

    # The URLs: the runs page (MLflow 3 lands on a GenAI overview without /runs) and the saved view.
    port = journey["port"]
    assert urls[0].startswith(f"http://127.0.0.1:{port}/#/experiments/") and urls[0].endswith("/runs")
    assert urls[1] == urls[0] + "?viewStateShareKey=harness"
    with urllib.request.urlopen(urls[0].split("#")[0], timeout=10) as page:
        assert "<title>MLflow" in page.read().decode()
    assert "what the numbers mean" in journey["summary"]


def browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: `make browser` installs Debian's (apt-get install chromium); it could not here")
    return sync_playwright


def close_assistant(page) -> None:
    """MLflow 3.17 opens an assistant panel over a third of the page on first load: close it if it is there."""
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()


@pytest.mark.slow
def test_the_ui_shows_trials_metrics_champion_curve_and_alias_in_a_real_browser(journey) -> None:
    sync_playwright = browser_or_skip()
    shots = Path(os.environ.get("HARNESS_SCREENSHOTS") or tempfile.mkdtemp(prefix="harness-screenshots-"))
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    runs_url, view_url = journey["urls"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            # The runs page: the study's parent run, collapsed; [+] in its Run Name cell shows the trials.
            page.goto(runs_url)
            page.get_by_text("study", exact=True).wait_for(timeout=WAIT_MS)
            close_assistant(page)
            page.locator("[role=gridcell]", has_text="study").last.locator("button").first.click()
            champion = page.get_by_text("(champion)")
            champion.first.wait_for(timeout=WAIT_MS)
            assert page.get_by_text("trial-", exact=False).count() >= 6
            page.screenshot(path=shots / "1-runs-expanded.png")

            # The saved comparison view: trials and baselines, the study metric first, sorted on it.
            page.goto(view_url)
            page.get_by_text("baseline-ridge").wait_for(timeout=WAIT_MS)
            close_assistant(page)
            for column in ("val/rmse", "test/rmse", "best_epoch"):
                page.get_by_text(column, exact=True).first.wait_for(timeout=WAIT_MS)
            page.get_by_text("(champion)").first.wait_for(timeout=WAIT_MS)
            page.screenshot(path=shots / "2-comparison-view.png")

            # The champion trial: its learning curve among the model metrics, its curves.svg among the artifacts.
            # An ensemble champion's run holds the model, not curves: they are its members', the best trial's first.
            ensemble = "\nensemble     trials" in journey["summary"]
            page.get_by_text("(best)" if ensemble else "(champion)").first.click()
            page.get_by_role("tab", name="Model metrics").click()
            # Charts come in sections by prefix: epoch/train (its loss curve first), epoch/val, val, test.
            page.get_by_text("epoch/train/loss").first.wait_for(timeout=WAIT_MS)
            page.get_by_text("epoch/val", exact=True).first.wait_for(timeout=WAIT_MS)
            close_assistant(page)
            page.wait_for_timeout(1500)  # the charts draw after their titles
            page.screenshot(path=shots / "3-champion-curves.png")

            # The registered model and its alias.
            page.goto(runs_url.split("#")[0] + "#/models/house-prices")
            page.get_by_text("@ champion").first.wait_for(timeout=WAIT_MS)
            page.screenshot(path=shots / "4-registered-model.png")
        finally:
            browser.close()
    assert sorted(p.name for p in shots.glob("*.png"))[:4] == ["1-runs-expanded.png", "2-comparison-view.png",
                                                               "3-champion-curves.png", "4-registered-model.png"]

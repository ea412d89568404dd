"""`--workers N` on one machine: N plain worker processes (`harness study ... --worker-slot i/N`), each in
its own process group, sharing the study through its stores; this process supervises them: it forwards
Ctrl-C and SIGTERM to them, waits for all of them, and reports any that ended badly.

Each worker gets `max(1, cores // N)` torch threads unless `train.threads` is set (more threads than cores
make every worker wait on the others), and on a machine with GPUs worker i gets GPU i mod their count
(`CUDA_VISIBLE_DEVICES`), so several workers share a GPU when there are more workers than GPUs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, Interrupted

WAIT_AFTER_SIGNAL_SECONDS = 60.0  # a worker ends its trial's bookkeeping in well under a second


def cores() -> int:
    """CPU cores this process may use (a container's or a Slurm job's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_threads(threads: int | None, n_workers: int) -> int:
    """Torch threads of each of N workers: `train.threads` if set, else an equal share of the cores."""
    return threads or max(1, cores() // n_workers)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them (an empty list without CUDA)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def gpu_assignment(n_workers: int, gpus: list[str]) -> list[str | None]:
    """The GPU of each worker: worker i gets GPU i mod the count; None for all on a machine without GPUs."""
    return [gpus[i % len(gpus)] if gpus else None for i in range(n_workers)]


def plan_workers(workers: int | None, per_gpu: int | None, gpus: list[str], device: str) -> int:
    """How many workers to start: `--workers`, or `--workers-per-gpu` times the GPUs; checked together."""
    if per_gpu is None:
        return workers or 1
    if device == "cpu" or not gpus:
        raise HarnessError(f"--workers-per-gpu {per_gpu}: this machine has no CUDA device visible "
                           f"(train.device {device}); use --workers N")
    limit = per_gpu * len(gpus)
    if workers is not None and workers > limit:
        raise HarnessError(f"--workers {workers} is more than --workers-per-gpu {per_gpu} x {len(gpus)} GPU(s) = "
                           f"{limit}; lower one or raise the other")
    return workers or limit


@dataclass
class Launch:
    spec_yaml: str  # the resolved study, so that every worker runs exactly the study this process checked
    n_workers: int
    threads: int | None  # train.threads
    storage: str  # absolute journal path or database URL
    tracking_uri: str
    total: int
    timeout: float | None
    gpus: list[str]
    quiet: bool = False  # the workers print warnings and errors only (the supervisor's --quiet)


def child_command(spec_file: Path, launch: Launch, slot: int) -> list[str]:
    command = [sys.executable, "-m", "harness", "study", str(spec_file), "--workers", "1", "--trials",
               str(launch.total), "--worker-slot", f"{slot}/{launch.n_workers}"]
    return (command + (["--timeout", str(launch.timeout)] if launch.timeout else [])
            + (["--quiet"] if launch.quiet else []))


def child_env(launch: Launch, slot: int, gpu: str | None) -> dict[str, str]:
    env = dict(os.environ)
    # Through the environment, not the command line, so a password in a URL is not in `ps`.
    env.update({"HARNESS_STORAGE": launch.storage, "MLFLOW_TRACKING_URI": launch.tracking_uri,
                "OMP_NUM_THREADS": str(worker_threads(launch.threads, launch.n_workers))})
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    return env


def supervise(launch: Launch, echo: Callable[[str], None]) -> list[int]:
    """Start the workers, wait for all of them; returns their exit codes. Ctrl-C or SIGTERM is passed to
    every worker (each ends its running trial as `interrupted` at its next epoch); then this raises it too."""
    received: list[int] = []
    procs: list[subprocess.Popen] = []

    def forward(signum, _frame) -> None:  # a second Ctrl-C is passed on too: the workers then stop at once
        received.append(signum)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with tempfile.TemporaryDirectory(prefix="harness-workers-") as folder:
            spec_file = Path(folder) / "study.yaml"
            spec_file.write_text(launch.spec_yaml)
            for slot, gpu in enumerate(gpu_assignment(launch.n_workers, launch.gpus)):
                # Own process group: a Ctrl-C in the terminal reaches this process only, which passes it on.
                procs.append(subprocess.Popen(child_command(spec_file, launch, slot), env=child_env(launch, slot, gpu),
                                              start_new_session=True))
                if received:  # a signal came while the workers were starting: this one gets it too
                    procs[-1].send_signal(received[0])
            codes = wait_all(procs, received)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for slot, code in enumerate(codes):
        if code not in (0, 130, 143):
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            echo(f"  worker {slot} (pid {procs[slot].pid}) ended with {how}")
    if received:
        raise Interrupted(received[0])
    return codes


def wait_all(procs: list[subprocess.Popen], received: list[int]) -> list[int]:
    """Every worker's exit code, collected as each ends (a killed worker must not linger as a zombie: the
    others take a zombie for alive); workers that outlive a forwarded signal by a minute are killed."""
    since_signal = 0.0
    while any(proc.poll() is None for proc in procs):
        time.sleep(0.5)
        since_signal = since_signal + 0.5 if received else 0.0
        if since_signal > WAIT_AFTER_SIGNAL_SECONDS:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
    return [proc.returncode for proc in procs]

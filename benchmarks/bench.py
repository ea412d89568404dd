"""`make bench`: every speed figure of issue 8, side by side, in one command (under 10 minutes on a quiet
2-core machine), written to benchmarks/results/bench.json and bench.md.

    .venv/bin/python benchmarks/bench.py                 # every section
    .venv/bin/python benchmarks/bench.py --only loop peer # some of them
    .venv/bin/python benchmarks/bench.py --report         # the table of the last run again

Sections (each its own script, runnable alone; each writes results/<section>.json):
  loop      1. harness fit vs tutorial DataLoader loop vs best hand loop vs MLPRegressor
  overhead  2. 30 trials x 3 epochs x 5k rows: bare vs harness (everything on) vs MLflowCallback
  peer      3. house prices, 40 trials: harness vs the typical Optuna + MLflow script (wall time, test R2)
  quick     4. quick mode on 442 rows (30 trials) and on 50,000 rows (s/trial)
  scale     5. 10k / 100k / 1M rows: preparation, epoch, peak memory
  busy      6. threads 1 vs 2, quiet and busy; a study alone vs beside two busy processes
The GPU section (7) is `make bench-gpu` (benchmarks/gpu.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import PYTHON, RESULTS, ROOT, harness_env, machine

SECTIONS = {
    "loop": ["loop.py", "--repeats", "5", "--epochs", "1"],
    "overhead": ["overhead.py", "--repeats", "2"],
    "peer": ["peer.py"],
    "quick": ["quick_speed.py", "--large-trials", "2"],
    "scale": ["scale.py"],
    "busy": ["busy.py", "--trials", "3", "--repeats", "2"],
}
GOALS = "goals: loop >= 0.95x the best hand loop; study overhead <= +10%; house prices <= 0.2x the peer with " \
        "test R2 at least as good; busy machine <= 2x; quick mode 30 trials < 60 s"


def markdown(results: list[dict], started: dict, seconds: float) -> str:
    lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {started['cpu']} ({started['cores']} cores), "
             f"torch {started.get('torch')}, load average {started['load_1min']} at the start; "
             f"`make bench` took {seconds / 60:.1f} min.", "",
             "| item | what | figure | ratio | goal |", "| --- | --- | --- | ---: | --- |"]
    for section in results:
        for r in section["rows"]:
            ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
            verdict = {True: " (met)", False: " (**not met**)", None: ""}[r["met"]]
            goal = f"{r['goal']}{verdict}" if r["goal"] else ""
            lines.append(f"| {r['item']} | {r['what']} | {r['figure']} | {ratio} | {goal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--report", action="store_true", help="print the table of the last run only")
    args = parser.parse_args()
    if args.report:
        print((RESULTS / "bench.md").read_text())
        return
    here = machine()
    print(f"make bench on {here['cpu']} ({here['cores']} cores), load average {here['load_1min']}; {GOALS}",
          flush=True)
    began = time.perf_counter()
    results = []
    for name in args.only:
        script, *options = SECTIONS[name]
        print(f"\n[{name}] {script} {' '.join(options)}", flush=True)
        section_start = time.perf_counter()
        proc = subprocess.run([PYTHON, str(ROOT / "benchmarks" / script), *options], cwd=ROOT,
                              env=harness_env(OMP_NUM_THREADS="1"))
        if proc.returncode != 0:
            print(f"[{name}] failed with exit code {proc.returncode}", flush=True)
            continue
        section = json.loads((RESULTS / f"{name}.json").read_text())
        section["seconds"] = time.perf_counter() - section_start
        results.append(section)
        print(f"[{name}] {section['seconds']:.0f} s", flush=True)
    seconds = time.perf_counter() - began
    table = markdown(results, here, seconds)
    (RESULTS / "bench.md").write_text(table + "\n")
    (RESULTS / "bench.json").write_text(json.dumps({"machine": here, "seconds": seconds, "sections": results},
                                                   indent=2))
    print("\n" + table)
    print(f"\nwritten: {RESULTS / 'bench.md'} and bench.json")
    sys.exit(0 if len(results) == len(args.only) else 1)


if __name__ == "__main__":
    main()

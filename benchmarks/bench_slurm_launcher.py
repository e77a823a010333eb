"""100 no-op jobs on the real SLURM cluster: ``hydraflow_slurm`` vs the stock ``submitit_slurm``.

    python benchmarks/bench_slurm_launcher.py            # 100 jobs
    python benchmarks/bench_slurm_launcher.py --jobs 20  # quick run

Needs the cluster of tests/cluster/slurm_up.sh (``sinfo`` must answer). Each launcher runs the same no-op
Hydra app as a real subprocess (stock ``basic`` sweeper for both). ``sbatch``, ``sacct``, ``squeue`` and
``scancel`` are counted with logging wrapper scripts put first on PATH (they exec the real binaries).
Reported: wall time of the whole command, the number of scheduler calls of each kind, and the time from the
start of the command to the (first) ``sbatch`` call. ``hydraflow_slurm`` runs with ``poll_interval_s=1``;
the stock launcher polls with its own back-off (sacct at 0, 2, 4, 8, ... s after the submission).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = """
import hydra

@hydra.main(version_base=None, config_path=None)
def main(cfg):
    return None

if __name__ == "__main__":
    main()
"""

LAUNCHERS: dict[str, list[str]] = {
    "hydraflow_slurm": [
        "hydra/launcher=hydraflow_slurm",
        "hydra.launcher.poll_interval_s=1",
        "hydra.launcher.progress=log",
    ],
    "submitit_slurm": ["hydra/launcher=submitit_slurm"],
}
TOOLS = ("sbatch", "sacct", "squeue", "scancel")


def _wrappers(bindir: Path, calls: Path) -> None:
    bindir.mkdir()
    for tool in TOOLS:
        real = shutil.which(tool)
        if real is None:
            raise SystemExit(f"{tool} not on PATH: start the cluster with tests/cluster/slurm_up.sh")
        wrapper = bindir / tool
        wrapper.write_text(f'#!/bin/sh\necho "{tool} $(date +%s.%N)" >> "{calls}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)


def _run(root: Path, name: str, jobs: int, tag: str = "") -> dict[str, float]:
    calls = root / f"{name}{tag}.calls"
    bindir = root / f"{name}{tag}-bin"
    _wrappers(bindir, calls)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    args = [
        "-m",
        *LAUNCHERS[name],
        "hydra.launcher.timeout_min=10",
        f"+i=range(0,{jobs})",
        f"hydra.sweep.dir={root}/{name}{tag}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "app.py", *args], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    t1 = time.time()
    wall = t1 - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    lines = [line.split() for line in calls.read_text().splitlines()] if calls.exists() else []
    counts: dict[str, float] = {tool: sum(1 for tool_, _ in lines if tool_ == tool) for tool in TOOLS}
    sbatch_times = [float(t) for tool, t in lines if tool == "sbatch"]
    counts["to_sbatch"] = (min(sbatch_times) - t0) if sbatch_times else float("nan")
    counts["wall"] = wall
    counts["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    starts, ends = _array_times(t0, t1)
    counts["span"] = (max(ends) - min(starts)) if starts else float("nan")
    counts["tail"] = (t1 - max(ends)) if ends else float("nan")
    counts["task_ms"] = _task_ms(root / f"{name}{tag}")
    return counts


_LOG_TIME = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\) - (Loading pickle|Job completed)")


def _task_ms(sweep_dir: Path) -> float:
    """Median time inside the array tasks, from submitit's "Loading pickle" to "Job completed" log lines.

    Both launchers run their jobs through submitit, which writes these two lines: the span is unpickling the
    job, getting its config, Hydra's run_job and pickling the result.
    """
    spans = []
    for task_dir in sweep_dir.glob(".submitit/*_*"):
        text = "".join(f.read_text() for f in task_dir.glob("*_log.*"))  # submitit logs to .out or .err
        marks = {what: stamp for stamp, what in _LOG_TIME.findall(text)}
        if len(marks) == 2:
            t = {
                k: time.mktime(time.strptime(v[:19], "%Y-%m-%d %H:%M:%S")) + int(v[20:]) / 1000
                for k, v in marks.items()
            }
            spans.append((t["Job completed"] - t["Loading pickle"]) * 1000)
    return statistics.median(spans) if spans else float("nan")


def _array_times(t0: float, t1: float) -> tuple[list[float], list[float]]:
    """Start and end times (epoch s, 1 s resolution) of the array tasks that ran between t0 and t1."""
    fmt = "%Y-%m-%dT%H:%M:%S"
    out = subprocess.run(
        [
            "sacct", "-X", "-n", "-P", "--format=JobID,Start,End",
            "-S", time.strftime(fmt, time.localtime(t0 - 1)), "-E", time.strftime(fmt, time.localtime(t1 + 1)),
        ],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    starts, ends = [], []
    for line in out.splitlines():
        job, start, end = [*line.split("|"), "", "", ""][:3]
        if "_" not in job or "Unknown" in (start, end) or not start or not end:
            continue
        s0 = time.mktime(time.strptime(start, fmt))
        if s0 >= t0 - 1:
            starts.append(s0)
            ends.append(time.mktime(time.strptime(end, fmt)))
    return starts, ends


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100, help="number of no-op jobs (default 100)")
    parser.add_argument("--launchers", nargs="+", default=list(LAUNCHERS), choices=list(LAUNCHERS))
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are reported")
    args = parser.parse_args()
    cpus = subprocess.run(
        ["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=False
    ).stdout.strip()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hf-bench-slurm-", dir=os.environ.get("HF_BENCH_DIR")) as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in args.launchers}
        for r in range(args.repeat):
            # alternate the order: the scheduler's cadence drifts (tasks start on job end or every
            # sched_interval), and it must hit both launchers alike
            order = args.launchers if r % 2 == 0 else list(reversed(args.launchers))
            for name in order:
                rounds[name].append(_run(root, f"{name}", args.jobs, tag=str(r)))
                print(
                    f"  round {r + 1}: {name}: {rounds[name][-1]['wall']:.2f} s", file=sys.stderr, flush=True
                )
        for name, runs in rounds.items():
            results[name] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}

    ref = results.get("hydraflow_slurm")
    print(
        f"\n### {args.jobs} no-op jobs on the single-node SLURM cluster (node CPUs: {cpus or '?'}), "
        f"median of {args.repeat} interleaved rounds\n"
    )
    print(
        "| launcher | wall time (s) | start to first sbatch (s) | array span (s) | last task end to return (s) "
        "| controller CPU (s) | time in a task (ms) | sbatch calls | sacct calls | squeue calls | wall / hydraflow_slurm |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ratio = f"{r['wall'] / ref['wall']:.2f}x" if ref else "-"
        print(
            f"| {name} | {r['wall']:.2f} | {r['to_sbatch']:.2f} | {r['span']:.0f} | {r['tail']:.1f} | "
            f"{r['cpu']:.2f} | {r['task_ms']:.0f} | {r['sbatch']:g} | {r['sacct']:g} | {r['squeue']:g} | {ratio} |"
        )
    print(
        "\nArray span: first task start to last task end in sacct (1 s resolution) — the scheduler and the node; "
        "last task end to return: how soon the controller noticed the end of the sweep and came back; "
        "controller CPU: user+sys of the Hydra process and the scheduler commands it ran; time in a task: "
        "median over tasks from submitit's 'Loading pickle' to 'Job completed' (load the job, get its config, "
        "run_job)."
    )


if __name__ == "__main__":
    main()

"""Many short jobs on the real SLURM cluster: packed ``hydraflow_slurm`` vs unpacked vs the stock ``submitit_slurm``.

    python benchmarks/bench_slurm_launcher.py                        # 200 no-op jobs and 50 jobs of 1 s
    python benchmarks/bench_slurm_launcher.py --noop 1000 --sleep 200  # the issue's sizes
    python benchmarks/bench_slurm_launcher.py --noop 20 --sleep 0    # quick run

Needs the cluster of tests/cluster/slurm_up.sh (``sinfo`` must answer). Every launcher runs the same Hydra app
as a real subprocess (stock ``basic`` sweeper unless said): a no-op job, or one that sleeps 1 s. The rows:

- ``hydraflow_slurm packed``: ``max_tasks=4``, ``cpus_per_task=2`` (4 array tasks, 2 jobs at a time in each,
  forked from the task's process, docs/many-short-jobs.md); once more with ``hydra/sweeper=hydraflow``, which
  validates each distinct override once instead of composing every job's config before the launch as Hydra's
  ``basic`` sweeper does (about 35 ms per job here, the same for every launcher row);
- ``hydraflow_slurm``: one job per array task (``jobs_per_task=1``, the default);
- ``submitit_slurm``: Hydra's stock submitit launcher, one job per array task.

``sbatch``, ``sacct``, ``squeue`` and ``scancel`` are counted with logging wrapper scripts first on PATH (they
exec the real binaries). Reported: wall time of the whole command; array tasks submitted (from the submission
scripts); scheduler calls; the controller's CPU time (user+sys of the Hydra process and the commands it ran)
and peak memory (maximum resident set, from ``wait4``); time from the start to the first ``sbatch``; the
array span in sacct (first task start to last task end of this sweep's own arrays, 1 s resolution).
``hydraflow_slurm`` polls every second (``poll_interval_s=1``); the stock launcher polls with its own
back-off. Controller memory is also measured at a fifth of the jobs, to show whether it grows with the
number of jobs. ``submitit_slurm`` cannot split a batch into several arrays: it runs at most
``MaxArraySize - 1`` jobs (``--stock-jobs``), and its speed-up column compares time per job.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = """
import time
import hydra

@hydra.main(version_base=None, config_path=None)
def main(cfg):
    time.sleep(float(cfg.get("hold", 0)))
    return None

if __name__ == "__main__":
    main()
"""

_HF = ["hydra/launcher=hydraflow_slurm", "hydra.launcher.poll_interval_s=1", "hydra.launcher.progress=log"]
_PACKED = [*_HF, "hydra.launcher.max_tasks=4", "hydra.launcher.cpus_per_task=2"]
LAUNCHERS: dict[str, list[str]] = {
    "hydraflow_slurm packed + hydraflow sweeper": [*_PACKED, "hydra/sweeper=hydraflow"],
    "hydraflow_slurm packed": _PACKED,
    "hydraflow_slurm": _HF,
    "submitit_slurm": ["hydra/launcher=submitit_slurm"],
}
TOOLS = ("sbatch", "sacct", "squeue", "scancel")
_ARRAY = re.compile(r"^#SBATCH --array=0-(\d+)", re.MULTILINE)


def _wrappers(bindir: Path, calls: Path) -> None:
    bindir.mkdir()
    for tool in TOOLS:
        real = shutil.which(tool)
        if real is None:
            raise SystemExit(f"{tool} not on PATH: start the cluster with tests/cluster/slurm_up.sh")
        wrapper = bindir / tool
        wrapper.write_text(f'#!/bin/sh\necho "{tool} $(date +%s.%N)" >> "{calls}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)


def _run(root: Path, name: str, jobs: int, tag: str = "", hold: float = 0.0) -> dict[str, float]:
    """Run ``jobs`` jobs through launcher ``name`` once; the measurements (see the module docstring)."""
    slug = f"{name}{tag}".replace(" ", "_").replace("+", "and")
    calls = root / f"{slug}.calls"
    bindir = root / f"{slug}-bin"
    _wrappers(bindir, calls)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    sweep_dir = root / slug
    args = [
        "-m",
        *LAUNCHERS[name],
        "hydra.launcher.timeout_min=30",
        f"+i=range(0,{jobs})",
        f"+hold={hold:g}",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    log = root / f"{slug}.log"
    t0 = time.time()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", *args], cwd=root, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    t1 = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{log.read_text()[-4000:]}")
    lines = [line.split() for line in calls.read_text().splitlines()] if calls.exists() else []
    result: dict[str, float] = {tool: sum(1 for tool_, _ in lines if tool_ == tool) for tool in TOOLS}
    sbatch_times = [float(t) for tool, t in lines if tool == "sbatch"]
    result["to_sbatch"] = (min(sbatch_times) - t0) if sbatch_times else float("nan")
    result["wall"] = t1 - t0
    result["cpu"] = usage.ru_utime + usage.ru_stime
    result["rss_mib"] = usage.ru_maxrss / 1024
    result["tasks"] = _tasks(sweep_dir)
    starts, ends = _array_times(sweep_dir)
    result["span"] = (max(ends) - min(starts)) if starts else float("nan")
    result["tail"] = (t1 - max(ends)) if ends else float("nan")  # used by bench_pbs_launcher.py
    result["task_ms"] = _task_ms(sweep_dir)  # used by bench_pbs_launcher.py
    return result


def _tasks(sweep_dir: Path) -> int:
    """Array tasks submitted: ``--array=0-N`` of each submission script (a script without one: 1 job)."""
    total = 0
    for script in sweep_dir.rglob("*_submission.sh"):
        match = _ARRAY.search(script.read_text())
        total += int(match.group(1)) + 1 if match else 1
    return total


_LOG_TIME = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\) - (Loading pickle|Job completed)")


def _task_ms(sweep_dir: Path) -> float:
    """Median time inside the array tasks, from submitit's "Loading pickle" to "Job completed" log lines.

    Every launcher here runs its tasks through submitit, which writes these two lines: the span is unpickling
    the task, getting its config(s), Hydra's run_job (of each packed job) and pickling the result.
    """
    spans = []
    for task_dir in sweep_dir.glob(".submitit/*_*"):
        text = "".join(f.read_text(errors="replace") for f in task_dir.glob("*_log.*"))
        marks = {what: stamp for stamp, what in _LOG_TIME.findall(text)}
        if len(marks) == 2:
            t = {
                k: time.mktime(time.strptime(v[:19], "%Y-%m-%d %H:%M:%S")) + int(v[20:]) / 1000
                for k, v in marks.items()
            }
            spans.append((t["Job completed"] - t["Loading pickle"]) * 1000)
    return statistics.median(spans) if spans else float("nan")


def _array_times(sweep_dir: Path) -> tuple[list[float], list[float]]:
    """Start and end times (epoch s, 1 s resolution) of the array tasks of this sweep (its job ids only)."""
    ids = sorted({d.name.split("_")[0] for d in sweep_dir.glob(".submitit/*") if d.name[:1].isdigit()})
    if not ids:
        return [], []
    fmt = "%Y-%m-%dT%H:%M:%S"
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--format=JobID,Start,End", "-j", ",".join(ids)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    starts, ends = [], []
    for line in out.splitlines():
        _job, start, end = [*line.split("|"), "", "", ""][:3]
        if "Unknown" in (start, end) or not start or not end or start == "None":
            continue
        starts.append(time.mktime(time.strptime(start, fmt)))
        ends.append(time.mktime(time.strptime(end, fmt)))
    return starts, ends


def _max_array_size() -> int:
    """SLURM's MaxArraySize (array indices go up to MaxArraySize - 1; 1001 when not found)."""
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.MULTILINE)
    return int(match.group(1)) if match else 1001


def _scenario(root: Path, title: str, jobs: dict[str, int], hold: float, small: int) -> None:
    """Run each launcher once on its number of jobs, print the table (ratios against the stock launcher)."""
    results: dict[str, dict[str, float]] = {}
    for name, n in jobs.items():
        results[name] = _run(root, name, n, tag=f"-{title[:5]}", hold=hold)
        print(f"  {title}: {name}: {n} jobs, {results[name]['wall']:.1f} s", file=sys.stderr, flush=True)
    memory = {}
    if small:
        for name in ("hydraflow_slurm packed + hydraflow sweeper", "hydraflow_slurm packed"):
            if name in jobs:
                memory[name] = _run(root, name, small, tag=f"-{title[:5]}-small", hold=hold)["rss_mib"]
    stock = results.get("submitit_slurm")
    stock_rate = stock["wall"] / jobs["submitit_slurm"] if stock else None
    print(f"\n### {title}\n")
    print(
        "| launcher | jobs | array tasks | wall time (s) | s per 1000 jobs | speed-up vs stock | sbatch | sacct "
        "| squeue | controller CPU (s) | controller peak RSS (MiB) | start to first sbatch (s) | array span (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        n = jobs[name]
        per_1000 = r["wall"] / n * 1000
        speedup = f"{stock_rate / (r['wall'] / n):.1f}x" if stock_rate else "-"
        print(
            f"| {name} | {n} | {r['tasks']:g} | {r['wall']:.1f} | {per_1000:.0f} | {speedup} | {r['sbatch']:g} "
            f"| {r['sacct']:g} | {r['squeue']:g} | {r['cpu']:.1f} | {r['rss_mib']:.0f} | {r['to_sbatch']:.2f} "
            f"| {r['span']:.0f} |"
        )
    for name, rss in memory.items():
        print(
            f"\n{name}: controller peak RSS {rss:.0f} MiB with {small} jobs, "
            f"{results[name]['rss_mib']:.0f} MiB with {jobs[name]}."
        )
    if stock and any(n != jobs["submitit_slurm"] for n in jobs.values()):
        print(
            f"\nsubmitit_slurm ran {jobs['submitit_slurm']} jobs; speed-ups compare time per job "
            f"(its {stock['wall']:.0f} s scaled linearly to each row's number of jobs)."
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--noop", type=int, default=200, help="no-op jobs (default 200; 0: skip)")
    parser.add_argument("--sleep", type=int, default=50, help="jobs of 1 s (default 50; 0: skip)")
    parser.add_argument(
        "--stock-jobs",
        type=int,
        help="jobs for submitit_slurm (default: the same, at most MaxArraySize - 1: it cannot split an array)",
    )
    parser.add_argument("--launchers", nargs="+", default=list(LAUNCHERS), choices=list(LAUNCHERS))
    parser.add_argument("--memory-check", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=False).stdout
    print(f"single-node SLURM, node CPUs advertised: {cpus.strip() or '?'}, host CPUs: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="hf-bench-slurm-", dir=os.environ.get("HF_BENCH_DIR")) as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP)
        for n, hold, title in ((args.noop, 0.0, "no-op jobs"), (args.sleep, 1.0, "jobs of 1 s")):
            if not n:
                continue
            jobs = dict.fromkeys(args.launchers, n)
            if "submitit_slurm" in jobs:
                jobs["submitit_slurm"] = args.stock_jobs or min(n, _max_array_size() - 1)
            small = max(1, n // 5) if args.memory_check else 0
            _scenario(root, f"{n} {title}", jobs, hold, small)


if __name__ == "__main__":
    main()

"""100 no-op jobs through ``hydraflow_pbs`` on the real OpenPBS server, ``hydraflow_slurm`` beside it for reference.

    python benchmarks/bench_pbs_launcher.py                 # 100 jobs, 3 interleaved rounds
    python benchmarks/bench_pbs_launcher.py --jobs 20 --repeat 1

Needs the OpenPBS server of tests/cluster/pbs_up.sh (and, for the reference row, the SLURM cluster of
tests/cluster/slurm_up.sh). There is no stock submitit executor for PBS, so the anchor is the same launcher
design on SLURM (``hydraflow_slurm``, measured with bench_slurm_launcher.py's own code). Each launcher runs the
same no-op Hydra app as a real subprocess (stock ``basic`` sweeper). The PBS client commands (``qsub``,
``qstat``, ``qdel``) are counted with logging wrapper scripts put first on PATH (they exec the real ones).
Reported: wall time of the whole command, time from its start to the first ``qsub``, the array's span on the
server (first sub-job start to last sub-job end, ``qstat -x``, 1 s resolution), how soon the controller
returned after the last sub-job ended, the controller's CPU time, the median time spent inside a sub-job, and
the calls of each command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_slurm_launcher as slurm_bench

PBS_BIN = Path(os.environ.get("HF_PBS_PREFIX", "/opt/pbs")) / "bin"
TOOLS = ("qsub", "qstat", "qdel")
PBS_ARGS = ["hydra/launcher=hydraflow_pbs", "hydra.launcher.poll_interval_s=1", "hydra.launcher.progress=log"]
_ARRAY = re.compile(r"job array (\d+)\.\S+: jobs")


def _wrappers(bindir: Path, calls: Path) -> None:
    bindir.mkdir()
    for tool in TOOLS:
        real = PBS_BIN / tool
        if not real.exists():
            raise SystemExit(f"{real} missing: start OpenPBS with tests/cluster/pbs_up.sh")
        wrapper = bindir / tool
        wrapper.write_text(f'#!/bin/sh\necho "{tool} $(date +%s.%N)" >> "{calls}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)


def _pbs_time(text: str) -> float:
    return time.mktime(time.strptime(text, "%a %b %d %H:%M:%S %Y"))


def _span(arrays: list[str]) -> tuple[list[float], list[float]]:
    """Start and end times (epoch s) of the sub-jobs of these arrays, from the server's history."""
    ids = [f"{seq}[]" for seq in arrays]
    out = subprocess.run(
        [str(PBS_BIN / "qstat"), "-f", "-F", "json", "-x", "-t", *ids],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    starts, ends = [], []
    for job_id, attrs in json.loads(out or "{}").get("Jobs", {}).items():
        if "[]" in job_id or "stime" not in attrs:
            continue
        starts.append(_pbs_time(attrs["stime"]))
        ends.append(_pbs_time(attrs.get("obittime") or attrs["mtime"]))
    return starts, ends


def _run_pbs(root: Path, jobs: int, tag: str) -> dict[str, float]:
    name = f"hydraflow_pbs{tag}"
    calls = root / f"{name}.calls"
    bindir = root / f"{name}-bin"
    _wrappers(bindir, calls)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{PBS_BIN}{os.pathsep}{os.environ['PATH']}"}
    args = [
        "-m",
        *PBS_ARGS,
        "hydra.launcher.timeout_min=10",
        f"+i=range(0,{jobs})",
        f"hydra.sweep.dir={root}/{name}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "app.py", *args], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    t1 = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"hydraflow_pbs failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    lines = [line.split() for line in calls.read_text().splitlines()]
    result: dict[str, float] = {tool: sum(1 for tool_, _ in lines if tool_ == tool) for tool in TOOLS}
    qsub_times = [float(t) for tool, t in lines if tool == "qsub"]
    result["to_submit"] = min(qsub_times) - t0
    result["wall"] = t1 - t0
    result["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    starts, ends = _span(_ARRAY.findall(proc.stdout + proc.stderr))
    result["span"] = max(ends) - min(starts)
    result["tail"] = t1 - max(ends)
    result["task_ms"] = slurm_bench._task_ms(root / name)  # noqa: SLF001 - the same submitit log lines
    return result


def _ncpus() -> str:
    out = subprocess.run(
        [str(PBS_BIN / "pbsnodes"), "-a"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"resources_available\.ncpus = (\d+)", out)
    return match[1] if match else "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100, help="number of no-op jobs (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--no-slurm", action="store_true", help="leave out the hydraflow_slurm reference row")
    args = parser.parse_args()
    names = ["hydraflow_pbs"] if args.no_slurm else ["hydraflow_pbs", "hydraflow_slurm"]
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="hf-bench-pbs-", dir=os.environ.get("HF_BENCH_DIR")) as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(slurm_bench.APP)
        for r in range(args.repeat):
            for name in names if r % 2 == 0 else list(reversed(names)):
                if name == "hydraflow_pbs":
                    run = _run_pbs(root, args.jobs, str(r))
                else:
                    run = slurm_bench._run(root, name, args.jobs, tag=str(r))  # noqa: SLF001
                    run["to_submit"] = run.pop("to_sbatch")
                rounds[name].append(run)
                print(f"  round {r + 1}: {name}: {run['wall']:.2f} s", file=sys.stderr, flush=True)
    results = {
        name: {k: statistics.median(run[k] for run in runs) for k in runs[0]} for name, runs in rounds.items()
    }
    slurm_cpus = subprocess.run(
        ["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=False
    ).stdout
    cpus = {
        "hydraflow_pbs": f"OpenPBS 23.06.06, {_ncpus()}",
        "hydraflow_slurm": f"SLURM, {slurm_cpus.strip() or '?'}",
    }
    print(f"\n### {args.jobs} no-op jobs, median of {args.repeat} interleaved rounds\n")
    print(
        "| launcher | scheduler, node CPUs | wall time (s) | start to first submission (s) | array span (s) "
        "| last task end to return (s) | controller CPU (s) | time in a task (ms) | submissions | state queries "
        "| wall / hydraflow_pbs |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ref = results["hydraflow_pbs"]["wall"]
    for name, r in results.items():
        submit, query = ("qsub", "qstat") if name == "hydraflow_pbs" else ("sbatch", "sacct")
        print(
            f"| {name} | {cpus[name]} | {r['wall']:.2f} | {r['to_submit']:.2f} | {r['span']:.0f} | {r['tail']:.1f} "
            f"| {r['cpu']:.2f} | {r['task_ms']:.0f} | {r[submit]:g} {submit} | {r[query]:g} {query} "
            f"| {r['wall'] / ref:.2f}x |"
        )
    for name, runs in rounds.items():
        print(f"\n{name} rounds: " + " / ".join(f"{run['wall']:.1f} s" for run in runs))


if __name__ == "__main__":
    main()

"""200 no-op jobs through each local launcher, side by side: ``hydraflow_local`` vs the stock anchors.

    python benchmarks/bench_local_launcher.py             # 200 jobs, all four launchers
    python benchmarks/bench_local_launcher.py --jobs 20   # quick run
    python benchmarks/bench_local_launcher.py --sweepers basic --launchers hydraflow_local submitit_local

Every launcher runs the same no-op Hydra app as a real subprocess, in a fresh temporary directory, once with
the stock ``basic`` sweeper and once with the ``hydraflow`` sweeper (the sweeper is the same for every
launcher of a table, so only the launcher differs). Reported: wall time of the whole
``python app.py -m ...`` command, per-job overhead (wall time minus the start-up of a single non-sweep run,
divided by the number of jobs) and the ratio of each anchor's wall time to ``hydraflow_local``'s.
Goals: at least 5x faster than ``submitit_local``, not slower than ``joblib`` (n_jobs=2).
"""

from __future__ import annotations

import argparse
import os
import resource
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
    "hydraflow_local": [
        "hydra/launcher=hydraflow_local",
        "hydra.launcher.n_jobs=2",
        "hydra.launcher.progress=log",
    ],
    "basic": ["hydra/launcher=basic"],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=60"],
}


CPU: dict[str, float] = {}


def _run(workdir: Path, args: list[str], name: str = "") -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "app.py", *args], cwd=workdir, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"benchmark run failed: {' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    if name:
        CPU.setdefault(name, 0.0)
        CPU[name] += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed


SWEEPERS: dict[str, list[str]] = {
    "basic": ["hydra/sweeper=basic"],
    "hydraflow": ["hydra/sweeper=hydraflow"],
}


def _table(title: str, walls: dict[str, float], cpu: dict[str, float], startup: float, jobs: int) -> None:
    ref = walls.get("hydraflow_local")
    print(f"\n#### {title}\n")
    print("| launcher | wall time (s) | per-job overhead (ms) | CPU time (s) | wall time / hydraflow_local |")
    print("|---|---:|---:|---:|---:|")
    for name, wall in walls.items():
        per_job = (wall - startup) / jobs * 1000
        ratio = f"{wall / ref:.2f}x" if ref else "-"
        print(f"| {name} | {wall:.2f} | {per_job:.1f} | {cpu.get(name, 0.0):.1f} | {ratio} |")
    if ref:
        print()
        if "submitit_local" in walls:
            r = walls["submitit_local"] / ref
            print(
                f"- submitit_local / hydraflow_local = {r:.1f}x (goal >= 5x): {'met' if r >= 5 else 'NOT met'}"
            )
        if "joblib" in walls:
            r = walls["joblib"] / ref
            print(f"- joblib / hydraflow_local = {r:.2f}x (goal >= 1x): {'met' if r >= 1 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200, help="number of no-op jobs (default 200)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per launcher; the median is reported")
    parser.add_argument("--launchers", nargs="+", default=list(LAUNCHERS), choices=list(LAUNCHERS))
    parser.add_argument("--sweepers", nargs="+", default=list(SWEEPERS), choices=list(SWEEPERS))
    args = parser.parse_args()

    walls: dict[str, dict[str, float]] = {}
    cpus: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hf-bench-local-") as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP)
        startup = statistics.median(_run(root, [f"hydra.run.dir={root}/single{i}"]) for i in range(3))
        for sweeper in args.sweepers:
            # rounds interleave the launchers, so that a load change on the machine hits all of them alike
            samples: dict[str, list[float]] = {name: [] for name in args.launchers}
            CPU.clear()
            for r in range(args.repeat):
                for name in args.launchers:
                    sweep = [f"+i=range(0,{args.jobs})", f"hydra.sweep.dir={root}/{sweeper}-{name}{r}"]
                    args_ = ["-m", *SWEEPERS[sweeper], *LAUNCHERS[name], *sweep]
                    samples[name].append(_run(root, args_, name))
                    print(
                        f"  {sweeper} sweeper, round {r + 1}: {name}: {samples[name][-1]:.2f} s",
                        file=sys.stderr,
                        flush=True,
                    )
            walls[sweeper] = {name: statistics.median(runs) for name, runs in samples.items()}
            cpus[sweeper] = {name: CPU.get(name, 0.0) / args.repeat for name in args.launchers}

    print(
        f"\n### {args.jobs} no-op jobs, local launchers ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})\n"
    )
    print(f"Start-up of one non-sweep run of the app: {startup:.2f} s (subtracted for the per-job overhead).")
    titles = {
        "basic": "Stock `basic` sweeper (it composes every job's config in the parent before launching: "
        "the same serial cost for every launcher)",
        "hydraflow": "`hydraflow` sweeper (validation composes once per config-group combination)",
    }
    for sweeper in args.sweepers:
        _table(titles[sweeper], walls[sweeper], cpus[sweeper], startup, args.jobs)
    load = os.getloadavg()
    print(
        f"\nCPU time: user+sys of the app and the processes it reaped (joblib's workers may escape it). "
        f"Load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} — wall times are only "
        "comparable on an otherwise idle machine."
    )


if __name__ == "__main__":
    main()

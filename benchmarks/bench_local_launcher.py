"""200 no-op jobs through each local launcher, side by side: ``hydraflow_local`` vs the stock anchors.

    python benchmarks/bench_local_launcher.py             # 200 jobs, all four launchers
    python benchmarks/bench_local_launcher.py --jobs 20   # quick run

Every launcher runs the same no-op Hydra app as a real subprocess with the stock ``basic`` sweeper (so the
sweeper's own cost is the same for all), in a fresh temporary directory. Reported: wall time of the whole
``python app.py -m ...`` command, per-job overhead (wall time minus the start-up of a single non-sweep run,
divided by the number of jobs) and the ratio of each anchor's wall time to ``hydraflow_local``'s.
Goals: at least 5x faster than ``submitit_local``, not slower than ``joblib`` (n_jobs=2).
"""

from __future__ import annotations

import argparse
import os
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
    "hydraflow_local": ["hydra/launcher=hydraflow_local", "hydra.launcher.n_jobs=2", "hydra.launcher.progress=log"],
    "basic": ["hydra/launcher=basic"],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=60"],
}


def _run(workdir: Path, args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "app.py", *args], cwd=workdir, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200, help="number of no-op jobs (default 200)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per launcher; the median is reported")
    parser.add_argument("--launchers", nargs="+", default=list(LAUNCHERS), choices=list(LAUNCHERS))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hf-bench-local-") as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP)
        startup = statistics.median(_run(root, [f"hydra.run.dir={root}/single{i}"]) for i in range(3))
        walls: dict[str, float] = {}
        for name in args.launchers:
            runs = []
            for r in range(args.repeat):
                sweep = [f"+i=range(0,{args.jobs})", f"hydra.sweep.dir={root}/{name}{r}"]
                runs.append(_run(root, ["-m", *LAUNCHERS[name], *sweep]))
            walls[name] = statistics.median(runs)
            print(f"  {name}: {walls[name]:.2f} s", file=sys.stderr, flush=True)

    ref = walls.get("hydraflow_local")
    print(f"\n### {args.jobs} no-op jobs, local launchers ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})\n")
    print(f"Start-up of one non-sweep run of the app: {startup:.2f} s (subtracted for the per-job overhead).\n")
    print("| launcher | wall time (s) | per-job overhead (ms) | wall time / hydraflow_local |")
    print("|---|---:|---:|---:|")
    for name, wall in walls.items():
        per_job = (wall - startup) / args.jobs * 1000
        ratio = f"{wall / ref:.2f}x" if ref else "-"
        print(f"| {name} | {wall:.2f} | {per_job:.1f} | {ratio} |")
    if ref:
        print()
        if "submitit_local" in walls:
            r = walls["submitit_local"] / ref
            print(f"- submitit_local / hydraflow_local = {r:.1f}x (goal >= 5x): {'met' if r >= 5 else 'NOT met'}")
        if "joblib" in walls:
            r = walls["joblib"] / ref
            print(f"- joblib / hydraflow_local = {r:.2f}x (goal >= 1x): {'met' if r >= 1 else 'NOT met'}")


if __name__ == "__main__":
    main()

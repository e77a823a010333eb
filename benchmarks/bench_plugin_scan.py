"""Plugin import cost at app start: ``hydra/sweeper=hydraflow`` vs Hydra's own BasicSweeper.

Hydra imports every public module under ``hydra_plugins`` (and its core plugins) at every application start.
Two measurements, each the median over fresh interpreter processes:

1. *isolated*: Hydra's plugin machinery preloaded (as it is when the scan starts), then only the plugin's
   modules imported and timed;
2. *scan*: Hydra's own per-module import timings (``Plugins.instance().stats``) during a real plugin scan.

Goal: the hydraflow sweeper adds < 30 ms beyond Hydra itself. Run it with bytecode compiled
(``python -m compileall hydraflow hydra_plugins``; not with ``PYTHONDONTWRITEBYTECODE`` set on a fresh
checkout, or the numbers include compiling the sources).

    python benchmarks/bench_plugin_scan.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 30.0

PRELOAD = "import hydra, hydra.core.plugins, hydra.core.config_store, hydra.plugins.sweeper, omegaconf\n"
ISOLATED = {
    "BasicSweeper (hydra core)": ["hydra._internal.core_plugins.basic_sweeper"],
    "hydraflow sweeper": [
        "hydra_plugins.hydraflow_sweeper",
        "hydra_plugins.hydraflow_sweeper.config",
        "hydra_plugins.hydraflow_sweeper.sweeper",
    ],
    "hydraflow launchers": [
        "hydra_plugins.hydraflow_launcher",
        "hydra_plugins.hydraflow_launcher.config",
        "hydra_plugins.hydraflow_launcher.launcher",
    ],
}
HEAVY = ("hydraflow.sweep", "hydraflow.launch.config", "mlflow", "submitit", "pyarrow", "pandas", "polars")


def isolated_ms(modules: list[str]) -> tuple[float, list[str]]:
    code = (
        PRELOAD + "import importlib, json, sys, time\n"
        "t = time.perf_counter()\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "ms = (time.perf_counter() - t) * 1e3\n"
        f"print(json.dumps([ms, [h for h in {HEAVY!r} if h in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    ms, heavy = json.loads(out.stdout)
    return ms, heavy


def scan_stats() -> dict[str, float]:
    code = (
        "import json\n"
        "from hydra.core.plugins import Plugins\n"
        "s = Plugins.instance().stats\n"
        "print(json.dumps({'total': s.total_time, **s.modules_import_time}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return {k: v * 1e3 for k, v in json.loads(out.stdout).items()}


def group_of(module: str) -> str:
    if module == "total":
        return "whole scan (all plugins)"
    if module.startswith("hydra._internal.core_plugins."):
        return module.rsplit(".", 1)[-1] + " (hydra core)"
    return module.split(".")[1]  # hydra_plugins.<package>...


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()

    print(f"## Plugin import cost at app start (median of {args.runs} fresh processes, ms)\n")
    print("### Isolated import (Hydra's plugin machinery preloaded)\n")
    print("| plugin | modules | import ms | vs BasicSweeper | heavy modules loaded | goal < 30 ms |")
    print("|---|---|---:|---:|---|---|")
    results = {}
    for name, modules in ISOLATED.items():
        samples = []
        heavy: list[str] = []
        for _ in range(args.runs):
            ms, heavy = isolated_ms(modules)
            samples.append(ms)
        results[name] = (statistics.median(samples), heavy, len(modules))
    base = results["BasicSweeper (hydra core)"][0]
    for name, (ms, heavy, n) in results.items():
        ok = "yes" if ms < GOAL_MS else "NO"
        print(f"| {name} | {n} | {ms:.2f} | {ms / base:.2f}x | {', '.join(heavy) or 'none'} | {ok} |")

    print("\n### Hydra's own scan timings (`Plugins.instance().stats`), summed per plugin package\n")
    runs = [scan_stats() for _ in range(args.runs)]
    groups: dict[str, list[float]] = {}
    for run in runs:
        per: dict[str, float] = {}
        for module, ms in run.items():
            per[group_of(module)] = per.get(group_of(module), 0.0) + ms
        for group, ms in per.items():
            groups.setdefault(group, []).append(ms)
    medians = {g: statistics.median(v) for g, v in groups.items()}
    base = medians.get("basic_sweeper (hydra core)", float("nan"))
    print("| plugin package / module | import ms | vs basic_sweeper |")
    print("|---|---:|---:|")
    for group in sorted(medians, key=lambda g: (g.startswith("whole"), -medians[g])):
        print(f"| {group} | {medians[group]:.2f} | {medians[group] / base:.2f}x |")


if __name__ == "__main__":
    main()

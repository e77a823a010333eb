"""Expanding a 10^6-job grid (6 keys x 10 values): hydraflow.sweep vs Hydra's BasicSweeper, side by side.

Hydra side: ``OverridesParser.parse_overrides`` + ``BasicSweeper.split_arguments`` (exactly what BasicSweeper
does in ``sweep()``), which builds every job before the first batch exists. hydraflow side: ``expand`` (which
also parses) and ``Sweep.batches``, a lazy stream. Each measurement runs in its own fresh interpreter so the
peak memory (``ru_maxrss`` growth over the post-import baseline) is honest; medians over ``--runs``.

Columns: time to the first batch of ``--batch`` jobs, time to enumerate every job, peak memory growth.

    python benchmarks/bench_expand.py [--runs 3] [--keys 6] [--values 10] [--batch 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, resource, sys, time
side, keys, values, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

if side == "hydra":
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    args = [f"k{i}=" + ",".join(str(v) for v in range(values)) for i in range(keys)]
    parser = OverridesParser.create()
    base = rss_mib()
    t0 = time.perf_counter()
    batches = BasicSweeper.split_arguments(parser.parse_overrides(args), batch)
    first = batches[0]
    t_first = time.perf_counter() - t0
    n = sum(len(b) for b in batches)
    t_all = time.perf_counter() - t0
else:
    from hydraflow.sweep import expand
    if side == "hydraflow":
        args = [f"k{i}=" + ",".join(str(v) for v in range(values)) for i in range(keys)]
    else:  # same grid written as ranges
        args = [f"k{i}=0:{values - 1}" for i in range(keys)]
    base = rss_mib()
    t0 = time.perf_counter()
    sweep = expand(args)
    it = sweep.batches(batch)
    first = next(it)
    t_first = time.perf_counter() - t0
    n = len(first) + sum(len(b) for b in it)
    t_all = time.perf_counter() - t0
    assert n == sweep.count
assert n == values ** keys, n
print(json.dumps({"first": t_first, "all": t_all, "mem": rss_mib() - base, "jobs": n, "job0": first[0]}))
"""

SIDES = {
    "hydra": "Hydra BasicSweeper (parse + split_arguments)",
    "hydraflow": "hydraflow expand (`k=0,1,...,9`)",
    "hydraflow-range": "hydraflow expand (`k=0:9`)",
}


def measure(side: str, keys: int, values: int, batch: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, side, str(keys), str(values), str(batch)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keys", type=int, default=6)
    ap.add_argument("--values", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1000)
    ns = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    for side in SIDES:
        runs = [measure(side, ns.keys, ns.values, ns.batch) for _ in range(ns.runs)]
        results[side] = {k: statistics.median(r[k] for r in runs) for k in ("first", "all", "mem")}
        results[side]["jobs"] = runs[0]["jobs"]
    hydra = results["hydra"]
    print(
        f"## expand a {ns.values}^{ns.keys} = {ns.values**ns.keys:,}-job grid "
        f"(median of {ns.runs} fresh processes each; batch = {ns.batch} jobs)\n"
    )
    print(
        "| side | first batch | all jobs | peak memory growth | first batch vs Hydra | all jobs vs Hydra | memory vs Hydra |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for side, label in SIDES.items():
        r = results[side]
        ratios = (
            ("1.00x", "1.00x", "1.00x")
            if side == "hydra"
            else (
                f"{hydra['first'] / r['first']:.0f}x faster",
                f"{hydra['all'] / r['all']:.2f}x",
                f"{r['mem'] / hydra['mem']:.3f}x" if hydra["mem"] > 0 else "-",
            )
        )
        print(
            f"| {label} | {r['first'] * 1e3:.1f} ms | {r['all']:.2f} s | {r['mem']:.1f} MiB | "
            f"{ratios[0]} | {ratios[1]} | {ratios[2]} |"
        )
    print(
        "\n`all jobs vs Hydra` > 1 means hydraflow enumerates faster; `memory vs Hydra` < 1 means it needs less. "
        "Hydra builds every job before the first batch; hydraflow streams them."
    )


if __name__ == "__main__":
    main()

"""Loading and frames of 5,000 runs: this checkout against another revision of hydraflow (default: ``main``).

Issue 10 makes ``to_frame`` return a polars DataFrame (HydraFlow 0.23's type) where it returned a
``pyarrow.Table``; loading and frames must not get slower. Both revisions read the 5,000-run file store of
``bench_analysis.py`` (generated once, cached), each in a fresh interpreter of this environment: the other
revision is exported with ``git archive`` into a temporary directory and put first on ``PYTHONPATH``. Rounds
alternate the two revisions (ABBA), so that changes of the machine's load hit both alike; medians.

Timed, per revision (one process per round; the list of run directories is not timed):

- **load + to_frame**: ``Run.load(dirs).to_frame(*7 keys)``, whatever ``to_frame`` returns there;
- **load + to_arrow**, **load + to_polars**: the same with the explicit frame types;
- **filter**, **group_by + agg**: on the loaded collection (as in ``bench_analysis.py``).

Wall time and CPU time (``time.process_time``: all threads of the process) are both shown: on a shared machine
the wall time follows the other work more than the code, and the CPU time less so.

    python benchmarks/bench_frames.py [--baseline main] [--runs 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analysis import KEYS, generate  # the same store as bench_analysis.py

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, os, statistics, sys, time
from pathlib import Path
store, repeat = sys.argv[1], int(sys.argv[2])
KEYS = json.loads(sys.argv[3])
exp = os.path.join(store, "123456789")
paths = sorted(Path(exp, d) for d in os.listdir(exp) if d != "meta.yaml")
import pyarrow as pa
import polars
import hydraflow
from hydraflow.analysis import Run
pa.array([0])  # one-time imports stay out of the timings

cpu = {}
def med(f):
    times, cpus, result = [], [], None
    for _ in range(repeat):
        c0 = time.process_time(); t0 = time.perf_counter(); result = f()
        times.append(time.perf_counter() - t0); cpus.append(time.process_time() - c0)
    cpu[len(cpu)] = statistics.median(cpus)
    return statistics.median(times), result

out = {"file": hydraflow.__file__}
t, frame = med(lambda: Run.load(paths).to_frame(*KEYS))
out["to_frame"] = t; out["frame_type"] = f"{type(frame).__module__.split('.')[0]}.{type(frame).__name__}"
t, table = med(lambda: Run.load(paths).to_arrow(*KEYS))
out["to_arrow"] = t; out["rows"] = table.num_rows
t, _ = med(lambda: Run.load(paths).to_polars(*KEYS))
out["to_polars"] = t
runs = Run.load(paths)
t, sel = med(lambda: runs.filter(model__lr=0.01, data__name=["a", "b"]))
out["filter"] = t; out["selected"] = len(sel)
t, _ = med(lambda: runs.group_by("model.name", "data.name").agg(n=len))
out["group_by"] = t
for i, key in enumerate(["to_frame", "to_arrow", "to_polars", "filter", "group_by"]):
    out[key + "_cpu"] = cpu[i]
print(json.dumps(out))
"""


def export(ref: str) -> Path:
    """The tree of ``ref`` in a new temporary directory (``git archive``: nothing of this checkout changes)."""
    dest = Path(tempfile.mkdtemp(prefix="hydraflow-baseline-"))
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def worker(store: Path, repeat: int, pythonpath: Path | None) -> dict[str, object]:
    """One round of one revision in a fresh interpreter."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(store), str(repeat), json.dumps(KEYS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
        env=env,
    )
    if proc.returncode != 0:
        msg = f"worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Alternate rounds of both revisions; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5, help="alternating rounds (one process each)")
    args = parser.parse_args()
    store = generate(args.runs)
    base_dir = export(args.baseline)
    try:
        base: list[dict[str, object]] = []
        ours: list[dict[str, object]] = []
        for i in range(args.repeat):  # ABBA order: neither side always runs first
            for side in (0, 1) if i % 2 == 0 else (1, 0):
                if side == 0:
                    base.append(worker(store, 3, base_dir))
                else:
                    ours.append(worker(store, 3, None))
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
    if not str(base[0]["file"]).startswith(str(base_dir)):
        msg = f"the baseline round imported {base[0]['file']}, not {args.baseline}"
        raise RuntimeError(msg)
    for key in ("rows", "selected"):
        if base[0][key] != ours[0][key]:
            msg = f"{key} differ: {base[0][key]} ({args.baseline}) vs {ours[0][key]} (this checkout)"
            raise RuntimeError(msg)

    def med(rounds: list[dict[str, object]], key: str) -> float:
        return statistics.median(float(str(r[key])) for r in rounds)

    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    print(
        f"\n### {args.runs:,} runs (file store): {args.baseline} vs this checkout ({head.stdout.strip()}), "
        f"medians of {args.repeat} alternating rounds x 3\n"
    )
    print(
        f"| operation | {args.baseline} wall | this wall | {args.baseline} / this (wall) "
        f"| {args.baseline} CPU | this CPU | {args.baseline} / this (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [
        (f"load + to_frame ({base[0]['frame_type']} / {ours[0]['frame_type']})", "to_frame"),
        ("load + to_arrow", "to_arrow"),
        ("load + to_polars", "to_polars"),
        ("filter (value + any-of)", "filter"),
        ("group_by (2 keys) + agg", "group_by"),
    ]
    for name, key in rows:
        a, b = med(base, key), med(ours, key)
        ca, cb = med(base, key + "_cpu"), med(ours, key + "_cpu")
        print(
            f"| {name} | {a * 1000:,.1f} ms | {b * 1000:,.1f} ms | {a / b:.2f}x "
            f"| {ca * 1000:,.1f} ms | {cb * 1000:,.1f} ms | {ca / cb:.2f}x |"
        )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

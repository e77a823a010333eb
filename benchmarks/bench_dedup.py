"""Dedup cost per job at 10 / 1,000 / 5,000 existing runs: hydraflow vs HydraFlow 0.23.2, side by side.

What is timed, for a *new* job (its config matches none of the N existing runs, i.e. the cost every job of a
growing sweep pays before the user function can run):

- hydraflow: fingerprint of the config + experiment lookup + per-fingerprint flock + the indexed MLflow query
  ``search_runs(filter_string="tags.`hydraflow.fingerprint` = '...'")`` (``hydraflow.tracking.store``).
- HydraFlow 0.23.2: experiment lookup + ``hydraflow.core.main.get_run_id`` (loads ``.hydra/config.yaml`` of every
  run directory and compares), run in its own Python 3.13 venv (/tmp/hf/hf023-venv).

Both read the *same* store: a sqlite database with local artifacts (``mlruns/<exp>/<run>/artifacts/.hydra/``),
generated once per N under /tmp/hf/bench_dedup (rows copied from a template run made through MLflow, artifacts
written as files), so each tool sees the layout it expects.

Usage: python benchmarks/bench_dedup.py [--sizes 10,1000,5000] [--repeat 15] [--parallel 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from hydraflow import settings

CACHE = Path(settings.BENCH_CACHE.text())  # HYDRAFLOW_BENCH_CACHE
HF023_PYTHON = Path(os.environ.get("HF023_PYTHON", "/tmp/hf/hf023-venv/bin/python"))  # noqa: S108 - documented shared cache
EXPERIMENT = "app"


def config_of(i: int) -> dict:
    return {"model": {"depth": i % 7, "width": 0.5 + (i % 11) / 10}, "lr": 0.001 * (1 + i % 5), "seed": i}


def _yaml(cfg: dict) -> str:
    import yaml

    return yaml.safe_dump(cfg, sort_keys=False)


def build_store(n: int) -> Path:
    """A sqlite store with ``n`` FINISHED runs of experiment ``app`` (cached by ``n``)."""
    root = CACHE / f"n{n}"
    done = root / "complete"
    if done.exists():
        return root
    import shutil

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    from mlflow.entities import Param, RunTag
    from mlflow.tracking import MlflowClient

    from hydraflow.tracking import fingerprint
    from hydraflow.tracking.main import flatten_params

    db = root / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri, registry_uri=uri)
    exp_id = client.create_experiment(EXPERIMENT, artifact_location=str(root / "mlruns" / "1"))
    template = client.create_run(exp_id, tags={"hydraflow.fingerprint": "template"})
    client.log_batch(
        template.info.run_id, params=[Param("seed", "-1")], tags=[RunTag("hydraflow.job_name", "app")]
    )
    client.set_terminated(template.info.run_id)
    client.delete_run(template.info.run_id)

    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM runs WHERE run_uuid = ?", (template.info.run_id,)).fetchone())
    cols = list(row)
    start = int(time.time() * 1000) - n * 1000
    runs, tags, params = [], [], []
    for i in range(n):
        cfg = config_of(i)
        run_id = uuid.uuid4().hex
        art = root / "mlruns" / str(exp_id) / run_id / "artifacts"
        (art / ".hydra").mkdir(parents=True)
        (art / ".hydra" / "config.yaml").write_text(_yaml(cfg))
        (art / ".hydra" / "overrides.yaml").write_text(_yaml([f"seed={i}"]))
        (art / "app.log").write_text("")
        r = dict(row)
        r.update(
            run_uuid=run_id,
            name=f"run-{i}",
            status="FINISHED",
            lifecycle_stage="active",
            deleted_time=None,
            start_time=start + i * 1000,
            end_time=start + i * 1000 + 500,
            artifact_uri=str(art),
        )
        runs.append(tuple(r[c] for c in cols))
        tags += [
            ("hydraflow.fingerprint", fingerprint(cfg), run_id),
            ("hydraflow.overrides_fingerprint", fingerprint([f"seed={i}"]), run_id),
            ("hydraflow.job_name", "app", run_id),
            ("hydraflow.version", "0.1.0", run_id),
            ("mlflow.runName", f"run-{i}", run_id),
        ]
        params += [(k, v, run_id) for k, v in flatten_params(cfg).items()]
    with con:
        insert = f"INSERT INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"  # noqa: S608 - own column names
        con.executemany(insert, runs)
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
    con.close()
    done.write_text(str(n))
    return root


def set_index(root: Path, *, present: bool) -> None:
    """Add (as the first hydraflow job on a sqlite store does) or drop the (key, value) index on tags."""
    from hydraflow.tracking.store import SQLITE_TAG_INDEX, index_sqlite_tags

    db = root / "mlflow.db"
    if present:
        index_sqlite_tags(db)
        return
    con = sqlite3.connect(db)
    with con:
        con.execute(f"DROP INDEX IF EXISTS {SQLITE_TAG_INDEX}")
    con.close()


def time_hydraflow(roots: dict[int, Path], repeat: int, *, index: bool = True) -> dict[int, list[float]]:
    """Timed lookups of new configs, interleaved across the store sizes so that load drift hits all alike."""
    from mlflow.tracking import MlflowClient

    from hydraflow.tracking import fingerprint
    from hydraflow.tracking.store import (
        FINGERPRINT_TAG,
        find_run,
        fingerprint_lock,
        get_or_create_experiment,
        lock_dir,
    )

    clients = {}
    for n, root in roots.items():
        set_index(root, present=index)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        client = MlflowClient(uri)
        exp = get_or_create_experiment(client, EXPERIMENT)  # warm-up: SQLAlchemy compiles its queries once
        find_run(client, exp.experiment_id, FINGERPRINT_TAG, "warm-up")
        # sanity: an existing config is found
        if find_run(client, exp.experiment_id, FINGERPRINT_TAG, fingerprint(config_of(0))) is None:
            raise RuntimeError(f"an existing config was not found in the store of {n} runs")
        clients[n] = (uri, client)
    times: dict[int, list[float]] = {n: [] for n in roots}
    for k in range(repeat):
        for n, (uri, client) in clients.items():
            cfg = config_of(10**9 + k)  # matches no existing run
            t0 = time.perf_counter()
            fp = fingerprint(cfg)
            exp = get_or_create_experiment(client, EXPERIMENT)
            with fingerprint_lock(lock_dir(uri, exp.artifact_location), f"{exp.experiment_id}-{fp[:40]}"):
                found = find_run(client, exp.experiment_id, FINGERPRINT_TAG, fp)
            times[n].append(time.perf_counter() - t0)
            if found is not None:
                raise RuntimeError("a new config matched an existing run")
    return times


HF023_SCRIPT = r"""
import json, sys, time
import mlflow
from omegaconf import OmegaConf
from hydraflow.core.main import get_run_id
uri, repeat = sys.argv[1], int(sys.argv[2])
mlflow.set_tracking_uri(uri)
mlflow.get_experiment_by_name("app")
times = []
for k in range(repeat):
    i = 10**9 + k
    cfg = OmegaConf.create({"model": {"depth": i % 7, "width": 0.5 + (i % 11) / 10}, "lr": 0.001 * (1 + i % 5),
                            "seed": i})
    t0 = time.perf_counter()
    exp = mlflow.get_experiment_by_name("app")
    run_id = get_run_id(exp.artifact_location, cfg, None)
    times.append(time.perf_counter() - t0)
    assert run_id is None
hit = OmegaConf.create({"model": {"depth": 0, "width": 0.5}, "lr": 0.001, "seed": 0})
assert get_run_id(exp.artifact_location, hit, None) is not None
print(json.dumps(times))
"""


def time_hf023(root: Path, repeat: int) -> list[float] | None:
    if not HF023_PYTHON.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hf023_bench.py"
        script.write_text(HF023_SCRIPT)
        proc = subprocess.run(
            [str(HF023_PYTHON), str(script), f"sqlite:///{root / 'mlflow.db'}", str(repeat)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp,
        )
    if proc.returncode != 0:
        print(f"HydraFlow 0.23.2 failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


PARALLEL_APP = """
import hydraflow


@hydraflow.main({"seed": 0})
def app(run, cfg):
    return cfg.seed


if __name__ == "__main__":
    app()
"""


def parallel(n: int) -> None:
    """Start ``n`` separate job processes at once against one fresh sqlite file; report what happened."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "app.py").write_text(PARALLEL_APP)
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "app.py", f"seed={i}", f"hydra.run.dir=out/{i}"],
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i in range(n)
        ]
        outputs = [p.communicate()[0] for p in procs]
        wall = time.perf_counter() - t0
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
        exp = client.get_experiment_by_name("app")
        runs = client.search_runs([exp.experiment_id], max_results=10000) if exp else []
        finished = sum(r.info.status == "FINISHED" for r in runs)
        failed = sum(p.returncode != 0 for p in procs)
        locked = sum("database is locked" in out for out in outputs)
    print(f"\n### {n} job processes started at once on one fresh sqlite file\n")
    print("| processes | wall time | exit != 0 | runs FINISHED | outputs mentioning 'database is locked' |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {n} | {wall:.1f} s | {failed} | {finished} / {n} | {locked} |")


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,1000,5000")
    parser.add_argument("--repeat", type=int, default=15, help="timed lookups per tool and size (median)")
    parser.add_argument("--hf-repeat", type=int, default=2, help="timed lookups for HydraFlow 0.23.2 (slow)")
    parser.add_argument("--parallel", type=int, default=0, help="also start N job processes at once (stress)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    t0 = time.perf_counter()
    roots = {n: build_store(n) for n in sizes}
    print(f"stores ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    bare_times = time_hydraflow(roots, args.repeat, index=False)
    our_times = time_hydraflow(roots, args.repeat, index=True)
    rows = []
    for n, root in roots.items():
        ours, bare = statistics.median(our_times[n]), statistics.median(bare_times[n])
        theirs_times = time_hf023(root, args.hf_repeat)
        theirs = statistics.median(theirs_times) if theirs_times else None
        rows.append((n, ours, bare, theirs))
        print(
            f"n={n}: hydraflow {fmt(ours)} (without index {fmt(bare)}); "
            f"HydraFlow 0.23.2 {fmt(theirs) if theirs is not None else 'n/a'}",
            file=sys.stderr,
        )

    print("\n### Dedup cost per new job (median), sqlite store with local artifacts\n")
    print(
        "| existing runs | hydraflow | hydraflow without its (key, value) tag index | HydraFlow 0.23.2 (scan) "
        "| HydraFlow / hydraflow |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n, ours, bare, theirs in rows:
        ratio = f"{theirs / ours:,.0f}x" if theirs is not None else "n/a"
        print(
            f"| {n:,} | {fmt(ours)} | {fmt(bare)} | {fmt(theirs) if theirs is not None else 'n/a'} | {ratio} |"
        )
    if rows:
        base = rows[0][1]
        print(f"\nhydraflow cost at {rows[-1][0]:,} runs / at {rows[0][0]:,} runs: {rows[-1][1] / base:.2f}x")
    if args.parallel:
        parallel(args.parallel)


if __name__ == "__main__":
    main()

"""Loading 2,000 runs + ``to_frame`` from an ``mlflow server`` with proxied artifacts (MLflow's default).

Side by side, each in a fresh interpreter, on the same server. Imports are not timed on either side (``mlflow``
included: hydraflow's server client sends its requests with MLflow's REST helper, for its auth and TLS
settings, and importing MLflow takes 2-10 s on the 2-core VM, more than everything else a warm load does):

- **hydraflow, cold cache**: ``Run.load(iter_run_dirs(EXP, tracking_uri=URI)).to_frame(*KEYS)`` with an empty
  artifact cache: the run listing in JSON pages, each run's ``.hydra/config.yaml`` fetched concurrently
  (``HYDRAFLOW_FETCH_THREADS``, default 8) into the cache;
- **hydraflow, warm cache**: the same again, every finished run's config already in the cache (the listing is
  still asked of the server);
- **MLflow, the plain way**: ``mlflow.search_runs`` + ``mlflow.artifacts.download_artifacts`` of each run's
  ``.hydra/config.yaml`` + ``yaml.safe_load`` + a pandas frame of the same keys.

The server (``mlflow server`` on a sqlite backend, no artifact options: ``--serve-artifacts`` from
``./mlartifacts``, runs have ``mlflow-artifacts:/`` URIs) serves a directory populated once (see
:func:`populate`: the rows and files the server itself would write, made in seconds instead of 8,000 REST calls)
and cached under ``$HYDRAFLOW_BENCH_DIR/server-<runs>``.

    python benchmarks/bench_server.py [--runs 2000] [--repeat 2] [--anchor-repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_analysis import run_config  # the same run configs as bench_analysis.py

from hydraflow import settings

CACHE = Path(settings.BENCH_DIR.text())  # HYDRAFLOW_BENCH_DIR
EXPERIMENT = "bench_server"
KEYS = ["model.name", "model.lr", "model.depth", "model.width", "data.name", "data.batch", "seed"]
LAYOUT_VERSION = 1


def _flat(d: dict[str, object], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v)
    return out


# ------------------------------------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``mlflow server`` on ``root/mlflow.db`` with MLflow's default (proxied) artifacts in ``root/mlartifacts``."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--workers", "2", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
        self.log = (root / "server.log").open("ab")
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(cmd, cwd=root, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 900  # a minute or more on a loaded 2-core machine (migrations)
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                msg = f"mlflow server did not start; see {root / 'server.log'}"
                raise RuntimeError(msg)
            time.sleep(0.3)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2):  # noqa: S310 - loopback
                return True
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def populate(root: Path, n: int) -> None:
    """``n`` FINISHED runs of EXPERIMENT in ``root/mlflow.db``, each with params, tags and ``.hydra/config.yaml``.

    Written as the server would store them, only faster than 2,000 x 4 REST calls: a template run made with
    ``MlflowClient`` on the sqlite file gives the row layout, the runs are inserted with SQL, and each run's
    ``config.yaml`` is put where the server keeps proxied artifacts (``mlartifacts/<location>/<run>/artifacts``,
    the experiment's artifact location being ``mlflow-artifacts:/bench``).
    """
    import sqlite3
    import uuid

    import yaml
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    db = root / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri, registry_uri=uri)
    exp = client.create_experiment(EXPERIMENT, artifact_location="mlflow-artifacts:/bench")
    template = client.create_run(exp, tags={"hydraflow.fingerprint": "template"})
    client.log_batch(template.info.run_id, params=[Param("seed", "-1")])
    client.set_terminated(template.info.run_id)
    client.delete_run(template.info.run_id)

    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM runs WHERE run_uuid = ?", (template.info.run_id,)).fetchone())
    cols = list(row)
    start = int(time.time() * 1000) - n * 1000
    runs, tags, params = [], [], []
    for i in range(n):
        cfg = run_config(i, random.Random(i))
        run_id = uuid.uuid4().hex
        art = root / "mlartifacts" / "bench" / run_id / "artifacts" / ".hydra"
        art.mkdir(parents=True)
        (art / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        r = dict(row)
        r.update(
            run_uuid=run_id,
            name=f"job-{i}",
            status="FINISHED",
            lifecycle_stage="active",
            deleted_time=None,
            start_time=start + i * 1000,
            end_time=start + i * 1000 + 500,
            artifact_uri=f"mlflow-artifacts:/bench/{run_id}/artifacts",
        )
        runs.append(tuple(r[c] for c in cols))
        tags += [("hydraflow.fingerprint", f"{i:064x}", run_id), ("mlflow.runName", f"job-{i}", run_id)]
        params += [(k, v, run_id) for k, v in _flat(cfg).items()]
    with con:
        insert = f"INSERT INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"  # noqa: S608 - own column names
        con.executemany(insert, runs)
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
    con.close()


def store_dir(n: int) -> Path:
    """The cached server directory with ``n`` runs (populated the first time)."""
    root = CACHE / f"server-{n}"
    done = root / "complete.json"
    if done.is_file() and json.loads(done.read_text()).get("layout") == LAYOUT_VERSION:
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    populate(root, n)
    took = time.perf_counter() - t0
    print(f"populated {n} runs in {took:.0f} s (cached in {root})", flush=True)
    done.write_text(json.dumps({"layout": LAYOUT_VERSION, "runs": n, "seconds": round(took, 1)}))
    return root


# ------------------------------------------------------------------------------------------------ the contenders

HYDRAFLOW = """
import sys, time
import mlflow  # what hydraflow's server client sends requests with (auth, TLS): imported untimed on both sides
from hydraflow.analysis import Run, iter_run_dirs
uri, keys, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
t = time.perf_counter()
frame = Run.load(iter_run_dirs({exp!r}, tracking_uri=uri)).to_frame(*keys)
took = time.perf_counter() - t
assert len(frame) == n, len(frame)  # a polars DataFrame (HydraFlow 0.23's type)
print(took)
"""

PLAIN_MLFLOW = """
import sys, tempfile, time
import mlflow, pandas as pd, yaml
uri, keys, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
mlflow.set_tracking_uri(uri)
t = time.perf_counter()
runs = mlflow.search_runs(experiment_names=[{exp!r}], max_results=100000)
rows = []
with tempfile.TemporaryDirectory() as dst:
    for run_id in runs["run_id"]:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=".hydra/config.yaml", dst_path=dst)
        with open(path) as f:
            cfg = yaml.safe_load(f)
        row = {{}}
        for key in keys:
            value = cfg
            for part in key.split("."):
                value = value[part]
            row[key] = value
        rows.append(row)
frame = pd.DataFrame(rows)
took = time.perf_counter() - t
assert len(frame) == n, len(frame)
print(took)
"""


def timed(script: str, uri: str, n: int, env: dict[str, str]) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", script.format(exp=EXPERIMENT), uri, ",".join(KEYS), str(n)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2, help="rounds of the hydraflow timings")
    parser.add_argument("--anchor-repeat", type=int, default=1, help="rounds of the plain MLflow timing")
    args = parser.parse_args()

    root = store_dir(args.runs)
    server = Server(root)
    cold: list[float] = []
    warm: list[float] = []
    plain: list[float] = []
    try:
        for r in range(max(args.repeat, args.anchor_repeat)):
            if r < args.repeat:
                with tempfile.TemporaryDirectory(prefix="hf-bench-cache-") as cache:
                    env = {"HYDRAFLOW_ARTIFACT_CACHE_DIR": cache}
                    cold.append(timed(HYDRAFLOW, server.uri, args.runs, env))
                    warm.append(timed(HYDRAFLOW, server.uri, args.runs, env))
            if r < args.anchor_repeat:
                plain.append(timed(PLAIN_MLFLOW, server.uri, args.runs, {}))
            anchor = f", plain {plain[-1]:.2f} s" if r < args.anchor_repeat else ""
            print(f"round {r + 1}: cold {cold[-1]:.2f} s, warm {warm[-1]:.2f} s{anchor}", flush=True)
    finally:
        server.stop()

    anchor = statistics.median(plain)
    rows = [
        ("MLflow: search_runs + download_artifacts per run", anchor),
        ("hydraflow, cold artifact cache", statistics.median(cold)),
        ("hydraflow, warm artifact cache", statistics.median(warm)),
    ]
    print(
        f"\nload {args.runs:,} runs + to_frame ({len(KEYS)} keys), proxied-artifact mlflow server on sqlite"
    )
    print(f"(medians: hydraflow over {args.repeat} rounds, MLflow over {args.anchor_repeat})\n")
    print("| how | seconds | vs MLflow |")
    print("|---|---:|---:|")
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} | {anchor / sec:.1f}x |")


if __name__ == "__main__":
    main()

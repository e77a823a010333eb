"""Loading and analysing 5,000 runs: hydraflow.analysis vs HydraFlow 0.23.2, side by side.

Both tools read the same MLflow file store (``meta.yaml``/params/metrics/tags files plus the ``.hydra/``
artifacts every hydraflow run has), generated once and cached under ``/tmp/hydraflow-bench/``. Each tool runs in
its own fresh interpreter: HydraFlow 0.23.2 needs Python >= 3.13 and lives in its own venv
(``$HF023_PYTHON``, default ``/tmp/hf/hf023-venv/bin/python``; created on demand with
``~/.pyenv/versions/3.13.0/bin/python -m venv`` + ``pip install hydraflow==0.23.2 "hydra-core<1.4"``).

Both get the same list of run directories (listing them is not timed) and time:

- **load + to_frame (7 keys)**: ``Run.load(dirs)`` then a frame of 7 config keys;
- **filter**: two criteria (a value and an any-of list) on the loaded collection;
- **group_by + agg**: group by two keys, count per group, into a frame.

hydraflow is timed cold (fresh process, OS file cache warm for both) and with its Parquet index warm
(``index=<dir>``: the second load of an unchanged store). Medians over ``--repeat`` rounds; each round runs
both tools one after the other, so that changes of machine load hit both alike.

    python benchmarks/bench_analysis.py [--runs 5000] [--repeat 3] [--no-anchor]
"""

# ruff: noqa: S108, S101
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from hydraflow import settings

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(settings.BENCH_DIR.text())  # HYDRAFLOW_BENCH_DIR
HF_PYTHON = Path(os.environ.get("HF023_PYTHON", "/tmp/hf/hf023-venv/bin/python"))
KEYS = ["model.name", "model.lr", "model.depth", "model.width", "data.name", "data.batch", "seed"]
LAYOUT_VERSION = 1

# ---------------------------------------------------------------------------------------- store generation


def run_config(i: int, rng: random.Random) -> dict[str, object]:
    """The Hydra config of generated run ``i`` (also used by bench_server.py)."""
    return {
        "model": {
            "name": rng.choice(["mlp", "cnn", "rnn"]),
            "lr": rng.choice([0.1, 0.01, 0.001]),
            "depth": rng.randint(1, 8),
            "width": rng.choice([64, 128, 256]),
            "layers": [rng.randint(1, 9) for _ in range(3)],
        },
        "data": {"name": rng.choice(["a", "b", "c", "d"]), "batch": rng.choice([32, 64]), "root": "/data"},
        "optim": {"name": "adam", "betas": [0.9, 0.999], "wd": 0.0},
        "seed": i % 10,
        "trainer": {"epochs": 10, "device": "cpu", "log_every": 50},
    }


def _yaml(d: dict, indent: int = 0) -> str:
    """Tiny YAML writer (block style) so generation does not depend on PyYAML speed."""
    pad = "  " * indent
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"{pad}{k}:\n{_yaml(v, indent + 1)}")
        elif isinstance(v, list):
            out.append(f"{pad}{k}:\n" + "".join(f"{pad}- {x}\n" for x in v))
        else:
            out.append(f"{pad}{k}: {v}\n")
    return "".join(out)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def generate(n: int) -> Path:
    """A file store with ``n`` runs of experiment ``train`` (cached)."""
    store = CACHE / f"analysis-v{LAYOUT_VERSION}-{n}" / "mlruns"
    done = store.parent / "DONE"
    if done.exists():
        return store
    if store.parent.exists():
        shutil.rmtree(store.parent)
    rng = random.Random(0)
    exp_id = "123456789"
    exp = store / exp_id
    exp.mkdir(parents=True)
    (store / ".trash").mkdir()
    (exp / "meta.yaml").write_text(
        f"artifact_location: {exp}\ncreation_time: 1700000000000\nexperiment_id: '{exp_id}'\n"
        "last_update_time: 1700000000000\nlifecycle_stage: active\nname: train\n"
    )
    t0 = 1_700_000_000_000
    for i in range(n):
        rid = uuid.UUID(int=rng.getrandbits(128)).hex
        run = exp / rid
        cfg = run_config(i, rng)
        start = t0 + i * 1000
        (run / "artifacts" / ".hydra").mkdir(parents=True)
        for sub in ("params", "metrics", "tags"):
            (run / sub).mkdir()
        (run / "meta.yaml").write_text(
            f"artifact_uri: {run / 'artifacts'}\nend_time: {start + 900}\nentry_point_name: ''\n"
            f"experiment_id: '{exp_id}'\nlifecycle_stage: active\nrun_id: {rid}\nrun_name: run-{i}\n"
            f"source_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: {start}\n"
            f"status: {3 if i % 17 else 4}\ntags: []\nuser_id: bench\n"
        )
        for k, v in _flat(cfg).items():
            (run / "params" / k).write_text(str(v))
        loss = "".join(f"{start + s} {1.0 / (s + 1) + (i % 7) * 0.01} {s}\n" for s in range(5))
        (run / "metrics" / "loss").write_text(loss)
        (run / "tags" / "hydraflow.fingerprint").write_text(f"{i:016x}")
        (run / "tags" / "mlflow.runName").write_text(f"run-{i}")
        hydra = run / "artifacts" / ".hydra"
        (hydra / "config.yaml").write_text(_yaml(cfg))
        (hydra / "overrides.yaml").write_text(f"- model.lr={cfg['model']['lr']}\n- seed={cfg['seed']}\n")
        (hydra / "hydra.yaml").write_text("hydra:\n  job:\n    name: train\n")
        (run / "artifacts" / "train.log").write_text("done\n")
    done.write_text("ok\n")
    return store


def generate_sqlite(store: Path) -> Path:
    """The same runs in an MLflow sqlite database (schema made by MLflow, rows inserted directly; cached)."""
    db = store.parent / "mlflow.db"
    done = store.parent / "DONE-sqlite"
    if done.exists():
        return db
    db.unlink(missing_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import sys; from mlflow.tracking import MlflowClient; "
                "MlflowClient(tracking_uri=sys.argv[1]).search_experiments()"
            ),
            f"sqlite:///{db}",
        ],
        check=True,
        capture_output=True,
    )
    import sqlite3

    exp = store / "123456789"
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time,"
            " last_update_time) VALUES (1, 'train', ?, 'active', 0, 0)",
            (str(exp),),
        )
        for run in sorted(p for p in exp.iterdir() if p.is_dir()):
            rid = run.name
            meta = dict(
                line.split(": ", 1) for line in (run / "meta.yaml").read_text().splitlines() if ": " in line
            )
            status = {"3": "FINISHED", "4": "FAILED"}[meta["status"]]
            con.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
                " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
                " VALUES (?, ?, 'UNKNOWN', '', '', 'bench', ?, ?, ?, '', 'active', ?, 1)",
                (
                    rid,
                    meta["run_name"],
                    status,
                    int(meta["start_time"]),
                    int(meta["end_time"]),
                    str(run / "artifacts"),
                ),
            )
            con.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [(p.name, p.read_text(), rid) for p in (run / "params").iterdir()],
            )
            con.executemany(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                [(p.name, p.read_text(), rid) for p in (run / "tags").iterdir()],
            )
            lines = [ln.split() for ln in (run / "metrics" / "loss").read_text().splitlines()]
            con.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES ('loss', ?, ?, ?, ?, 0)",
                [(float(v), int(ts), rid, int(st)) for ts, v, st in lines],
            )
            ts, v, st = lines[-1]
            con.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                " VALUES ('loss', ?, ?, ?, 0, ?)",
                (float(v), int(ts), int(st), rid),
            )
    con.close()
    done.write_text("ok\n")
    return db


SQLITE_WORKER = r"""
import json, os, statistics, sys, time
from pathlib import Path
store, db, repeat = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
exp = store / "123456789"
dirs = {p.name: p for p in exp.iterdir() if p.is_dir()}
from hydraflow.analysis.readers.sqlite import read_infos as read_sqlite_infos
from mlflow.tracking import MlflowClient
def med(f, n):
    times, result = [], None
    for _ in range(n):
        t0 = time.perf_counter(); result = f(); times.append(time.perf_counter() - t0)
    return statistics.median(times), result
t, infos = med(lambda: read_sqlite_infos(db, dirs), repeat)
client = MlflowClient(tracking_uri=f"sqlite:///{db}")
client.search_runs(["1"], max_results=1)  # store set-up is not timed
def search():
    out, token = [], None
    while True:
        page = client.search_runs(["1"], max_results=1000, page_token=token)
        out.extend(page); token = page.token
        if not token:
            return out
t2, runs = med(search, repeat)
assert len(infos) == len(runs) == len(dirs), (len(infos), len(runs))
print(json.dumps({"sqlite3": t, "search_runs": t2}))
"""

# ---------------------------------------------------------------------------------------- workers

WORKER = r"""
import json, os, statistics, sys, time
side, store, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
KEYS = json.loads(sys.argv[4])
exp = os.path.join(store, "123456789")
dirs = sorted(os.path.join(exp, d) for d in os.listdir(exp) if d != "meta.yaml")

def med(f, n):
    times, result = [], None
    for _ in range(n):
        t0 = time.perf_counter(); result = f(); times.append(time.perf_counter() - t0)
    return statistics.median(times), result

from pathlib import Path
paths = [Path(d) for d in dirs]
out = {}
if side == "hydraflow023":
    from hydraflow import Run
    def load():
        runs = Run.load(paths)
        return runs, runs.to_frame(*KEYS)
    t, (runs, df) = med(load, repeat)
    out["load"] = t; out["rows"] = df.shape[0]
    t, sel = med(lambda: runs.filter(model__lr=0.01, data__name=["a", "b"]), max(3, repeat))
    out["filter"] = t; out["selected"] = len(sel)
    t, agg = med(lambda: runs.group_by("model.name", "data.name").agg(n=len), max(3, repeat))
    out["group_by"] = t; out["groups"] = agg.shape[0]
else:
    import shutil, tempfile
    from hydraflow.analysis import Run
    import pyarrow as pa
    import hydraflow.analysis.frame
    # one-time imports stay out of the timings on both sides (HydraFlow imports polars and OmegaConf with
    # `import hydraflow`): pyarrow's first pa.array() of a list probes for, and imports, pandas
    pa.array([0])
    def load():
        runs = Run.load(paths)
        return runs, runs.to_arrow(*KEYS)
    t, (runs, table) = med(load, repeat)
    out["load"] = t; out["rows"] = table.num_rows
    cache = tempfile.mkdtemp(prefix="hf-bench-index-")
    try:
        t0 = time.perf_counter(); Run.load(paths, index=cache).to_arrow(*KEYS); out["index_cold"] = time.perf_counter() - t0
        t, _ = med(lambda: Run.load(paths, index=cache).to_arrow(*KEYS), repeat)
        out["index_warm"] = t
    finally:
        shutil.rmtree(cache)
    t, _ = med(lambda: Run.load(paths).to_pandas(*KEYS), repeat)
    out["load_pandas"] = t
    t, sel = med(lambda: runs.filter(model__lr=0.01, data__name=["a", "b"]), max(3, repeat))
    out["filter"] = t; out["selected"] = len(sel)
    t, agg = med(lambda: runs.group_by("model.name", "data.name").agg(n=len), max(3, repeat))
    out["group_by"] = t; out["groups"] = len(agg)
    t, _ = med(lambda: runs.to_arrow("status", "metrics.loss"), 1)  # first info access: whole batch
    out["info"] = t
print(json.dumps(out))
"""


def ensure_hf_venv() -> bool:
    """HydraFlow 0.23.2's venv: reuse it, or create it (lock: one creator among concurrent processes)."""
    check = [str(HF_PYTHON), "-c", "import hydraflow, polars"]
    if (
        HF_PYTHON.exists()
        and subprocess.run(check, capture_output=True, check=False, cwd="/tmp").returncode == 0
    ):
        return True
    lock = HF_PYTHON.parent.parent.with_suffix(".lock")
    py313 = Path.home() / ".pyenv/versions/3.13.0/bin/python"
    try:
        lock.mkdir(parents=True)
    except FileExistsError:
        for _ in range(600):  # someone else creates it
            if (
                HF_PYTHON.exists()
                and subprocess.run(check, capture_output=True, check=False, cwd="/tmp").returncode == 0
            ):
                return True
            time.sleep(1)
        return False
    if not py313.exists():
        return False
    venv = str(HF_PYTHON.parent.parent)
    subprocess.run([str(py313), "-m", "venv", venv], check=True)
    subprocess.run(
        [str(HF_PYTHON), "-m", "pip", "install", "-q", "hydraflow==0.23.2", "hydra-core<1.4"], check=True
    )
    return True


def run_worker(python: str, side: str, store: Path, repeat: int) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [python, "-c", WORKER, side, str(store), str(repeat), json.dumps(KEYS)],
        capture_output=True,
        text=True,
        check=False,
        cwd="/tmp",  # never the repo root: the anchor must import *its* hydraflow
        env=env,
    )
    if proc.returncode != 0:
        msg = f"{side} worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(rounds: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-anchor", action="store_true", help="skip HydraFlow 0.23.2")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the sqlite info comparison")
    args = parser.parse_args()

    t0 = time.perf_counter()
    store = generate(args.runs)
    gen = time.perf_counter() - t0
    print(f"store: {store} ({args.runs} runs; ready in {gen:.1f} s)", file=sys.stderr)

    use_anchor = not args.no_anchor and ensure_hf_venv()
    if not args.no_anchor and not use_anchor:
        print("HydraFlow 0.23.2 venv unavailable: anchor column skipped", file=sys.stderr)
    # rounds alternate the two tools, so that a change of machine load hits both alike
    ours_rounds, anchor_rounds = [], []
    for _ in range(args.repeat):
        ours_rounds.append(run_worker(sys.executable, "hydraflow", store, 1))
        if use_anchor:
            anchor_rounds.append(run_worker(str(HF_PYTHON), "hydraflow023", store, 1))
    ours = _median(ours_rounds)
    anchor = _median(anchor_rounds) if anchor_rounds else None
    if anchor is not None:
        assert anchor["rows"] == ours["rows"] == args.runs, (anchor, ours)
        assert anchor["selected"] == ours["selected"], (anchor, ours)
        assert anchor["groups"] == ours["groups"], (anchor, ours)

    sqlite_times = None
    if not args.no_sqlite:
        db = generate_sqlite(store)
        proc = subprocess.run(
            [sys.executable, "-c", SQLITE_WORKER, str(store), str(db), str(args.repeat)],
            capture_output=True,
            text=True,
            check=True,
            cwd="/tmp",
        )
        sqlite_times = json.loads(proc.stdout.strip().splitlines()[-1])

    n = args.runs

    def ms(x: float) -> str:
        return f"{x * 1000:,.1f} ms"

    def ratio(a: float | None, b: float) -> str:
        return "-" if a is None else f"**{a / b:,.1f}x**"

    print(f"\n### Analysis: {n:,} runs (file store), medians of {args.repeat} alternating rounds\n")
    print("| operation | HydraFlow 0.23.2 | hydraflow | speed-up |")
    print("|---|---:|---:|---:|")
    a = anchor or {}
    rows = [
        ("load + to_frame (7 keys)", a.get("load"), ours["load"]),
        ("load + to_frame, Parquet index warm", a.get("load"), ours["index_warm"]),
        ("filter (value + any-of)", a.get("filter"), ours["filter"]),
        ("group_by (2 keys) + agg", a.get("group_by"), ours["group_by"]),
    ]
    for name, theirs, mine in rows:
        print(f"| {name} | {'-' if theirs is None else ms(theirs)} | {ms(mine)} | {ratio(theirs, mine)} |")
    theirs_rate = f"{n / a['load']:,.0f}" if a else "-"
    print(
        f"| runs/s loading (cold / index warm) | {theirs_rate} "
        f"| {n / ours['load']:,.0f} / {n / ours['index_warm']:,.0f} | |"
    )
    print("\nhydraflow only:")
    print(f"- first load with index (writes it): {ms(ours['index_cold'])}")
    print(f"- load + to_pandas (7 keys): {ms(ours['load_pandas'])}")
    print(f"- status + latest metric of every run (first `info` access, whole batch): {ms(ours['info'])}")
    print("- HydraFlow 0.23.2 has no run status, metrics or params in its Run (config only).")
    if sqlite_times is not None:
        print(f"\n### Run info of {n:,} runs from an MLflow sqlite store\n")
        print("| reader | time | speed-up |")
        print("|---|---:|---:|")
        print(f"| MLflow `search_runs`, pages of 1,000 | {ms(sqlite_times['search_runs'])} | 1.0x |")
        print(
            f"| hydraflow: stdlib sqlite3, read-only, batched | {ms(sqlite_times['sqlite3'])} "
            f"| {ratio(sqlite_times['search_runs'], sqlite_times['sqlite3'])} |"
        )


if __name__ == "__main__":
    main()

"""A tiny single-host stand-in for PBS Pro's qsub / qstat / qdel (no PBS Pro server can run on this machine).

It implements only what the PBS executor relies on, in PBS Pro's formats: ``qsub SCRIPT`` reading ``#PBS -J``
and ``#PBS -o`` (``^array_index^``), ids ``N.fakepbs`` / ``N[].fakepbs`` / ``N[i].fakepbs``, the job environment
(``PBS_JOBID``, ``PBS_ARRAY_ID``, ``PBS_ARRAY_INDEX``, ``PBS_O_WORKDIR``), ``qstat -f -F json -x -t IDS`` and
``qdel ID``. State lives in JSON files under ``$FAKE_PBS_DIR``. Called as ``fakepbs.py TOOL ARGS...`` by the
qsub/qstat/qdel shell wrappers the tests put on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SERVER = "fakepbs"
STATE = Path(os.environ.get("FAKE_PBS_DIR", "/nonexistent"))


def _path(key: str) -> Path:
    return STATE / f"{key}.json"


def _write(key: str, **attrs: object) -> None:
    path = _path(key)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(attrs)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def _read(key: str) -> dict | None:
    try:
        return json.loads(_path(key).read_text())
    except (OSError, ValueError):
        return None


def qsub(argv: list[str]) -> int:
    script = Path(argv[-1])
    text = script.read_text()
    array = re.search(r"^#PBS -J (\d+)-(\d+)(?:%(\d+))?$", text, re.MULTILINE)
    out = re.search(r"^#PBS -o (\S+)$", text, re.MULTILINE)
    name = re.search(r"^#PBS -N (\S+)$", text, re.MULTILINE)
    counter = STATE / "counter"
    seq = int(counter.read_text()) + 1 if counter.exists() else 1000
    counter.write_text(str(seq))
    common = {"Job_Name": name[1] if name else "STDIN", "queue": "workq", "server": SERVER, "substate": 10}
    if array:
        indices = list(range(int(array[1]), int(array[2]) + 1))
        _write(f"{seq}[]", job_state="Q", array="True", **common)
        for i in indices:
            _write(f"{seq}[{i}]", job_state="Q", array_id=f"{seq}[].{SERVER}", array_index=i, **common)
        job_id = f"{seq}[].{SERVER}"
    else:
        indices = [None]
        _write(str(seq), job_state="Q", **common)
        job_id = f"{seq}.{SERVER}"
    runner = [
        sys.executable,
        __file__,
        "run",
        str(seq),
        str(script),
        out[1] if out else "/dev/null",
        str(Path.cwd()),
    ]
    runner += [str(i) for i in indices if i is not None]
    # detached, and not holding qsub's stdout open (the caller reads it to EOF)
    subprocess.Popen(
        runner,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(job_id)
    return 0


def run(seq: str, script: str, out: str, workdir: str, *indices: str) -> None:
    keys = [f"{seq}[{i}]" for i in indices] or [seq]
    if indices:
        _write(f"{seq}[]", job_state="B", substate=11)
    for key, index in zip(keys, indices or [None], strict=True):
        if (_read(key) or {}).get("job_state") != "Q":
            continue  # deleted while queued
        env = {**os.environ, "PBS_JOBID": f"{key}.{SERVER}", "PBS_O_WORKDIR": workdir}
        env.pop("FAKE_PBS_DIR", None)
        if index is not None:
            env.update(PBS_ARRAY_ID=f"{seq}[].{SERVER}", PBS_ARRAY_INDEX=index)
        log = out.replace("^array_index^", index or "")
        with open(log, "ab") as handle:  # noqa: PTH123
            proc = subprocess.Popen(
                ["bash", script], env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
            _write(key, job_state="R", substate=42, pid=proc.pid, exec_host="localhost/0")
            rc = proc.wait()
        current = _read(key)
        # not deleted meanwhile (qdel: substate 91), and not forgotten by the server (no record): a server
        # without job history must not bring a vanished job back as finished
        if current is not None and current.get("substate") != 91:
            status = 256 - rc if rc < 0 else rc  # killed by a signal: 256 + signal number
            _write(key, job_state="X" if index is not None else "F", substate=92, Exit_status=status)
    if indices:
        _write(f"{seq}[]", job_state="F", substate=92)


def qstat(argv: list[str]) -> int:
    ids = [a for a in argv[1:] if not a.startswith("-") and a != "json"]
    jobs: dict[str, dict] = {}
    rc = 0
    for job_id in ids:
        match = re.fullmatch(r"(\d+)(\[(\d*)\])?(\.\S+)?", job_id)
        key = job_id.split(".")[0]
        data = _read(key)
        if match is None or data is None:
            sys.stderr.write(f"qstat: Unknown Job Id {job_id}\n")
            rc = 153
            continue
        jobs[f"{key}.{SERVER}"] = data
        if match[2] == "[]" and "-t" in argv:
            for path in sorted(STATE.glob(f"{match[1]}[[]*[]].json")):
                if path.stem != key:
                    jobs[f"{path.stem}.{SERVER}"] = json.loads(path.read_text())
    payload = {"timestamp": int(time.time()), "pbs_version": "2022.1.3", "pbs_server": SERVER}
    if jobs:
        payload["Jobs"] = {k: {x: y for x, y in v.items() if x != "pid"} for k, v in jobs.items()}
    print(json.dumps(payload, indent=4))
    return rc


def qdel(argv: list[str]) -> int:
    for job_id in argv[1:]:
        key = job_id.split(".")[0]
        data = _read(key)
        if data is None:
            sys.stderr.write(f"qdel: Unknown Job Id {job_id}\n")
            return 153
        final = "X" if "array_index" in data else "F"
        if data.get("job_state") == "R":
            _write(key, job_state=final, substate=91, Exit_status=271)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(data["pid"], signal.SIGTERM)
        elif data.get("job_state") == "Q":
            _write(key, job_state=final, substate=91)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        run(*sys.argv[2:])
        sys.exit(0)
    sys.exit({"qsub": qsub, "qstat": qstat, "qdel": qdel}[sys.argv[1]](sys.argv[1:]))

"""Re-record ``fixtures/openpbs_qstat_f_json_x_t.json`` from the real OpenPBS server (tests/cluster/pbs_up.sh).

    sudo python tests/pbs/record_openpbs.py        # ~1 min; needs an idle server (it uses both CPUs)

Every job is named after the case it shows (``ok``, ``fail``, ``del_running`` ...), so the tests look records
up by ``Job_Name`` and do not depend on job numbers. Review the diff before committing a new recording.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("HF_PBS_PREFIX", "/opt/pbs")) / "bin"
OUT = Path(__file__).parent / "fixtures" / "openpbs_qstat_f_json_x_t.json"
ARRAY_SCRIPT = """#!/bin/bash
case "$PBS_ARRAY_INDEX" in 0) exit 0 ;; 1) exit 2 ;; *) sleep 300 ;; esac
"""


def qsub(workdir: Path, name: str, body: str, *args: str) -> str:
    script = workdir / f"{name}.sh"
    script.write_text(f"#!/bin/bash\n{body}\n")
    cmd = [str(BIN / "qsub"), "-N", name, "-j", "oe", "-o", str(workdir / f"{name}.log"), *args, str(script)]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=workdir).stdout.strip()


def records(*ids: str) -> dict:
    cmd = [str(BIN / "qstat"), "-f", "-F", "json", "-x", "-t", *ids]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["Jobs"]


def wait(job_id: str, states: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if records(job_id)[job_id]["job_state"] in states:
            return
        time.sleep(0.5)
    sys.exit(f"{job_id} did not reach {states}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pbs-record-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        # 1. jobs that end: normally, with an error, killed by a signal, at their walltime, deleted
        ended = [
            qsub(work, "ok", "exit 0"),
            qsub(work, "fail", "exit 3"),
            qsub(work, "sigkill", "kill -9 $$"),
            qsub(work, "walltime", "sleep 300", "-l", "walltime=00:00:03"),
        ]
        running = qsub(work, "del_running", "sleep 300")
        wait(running, "R")
        subprocess.run([str(BIN / "qdel"), running], check=True)
        queued = qsub(work, "del_queued", "exit 0", "-l", "select=1:ncpus=64")
        subprocess.run([str(BIN / "qdel"), queued], check=True)
        done_array = qsub(work, "arr_done", "exit 0", "-J", "0-1")
        del_array = qsub(work, "arr_del", '[ "$PBS_ARRAY_INDEX" = 1 ] || sleep 300', "-J", "0-2%1")
        seq, suffix = del_array.split("[]")
        wait(f"{seq}[0]{suffix}", "R")
        subprocess.run([str(BIN / "qdel"), f"{seq}[0]{suffix}", f"{seq}[2]{suffix}"], check=True)
        for job_id in [*ended, running, queued, done_array, del_array]:
            wait(job_id, "F")
        # 2. jobs caught while active: running, queued for ever (too many CPUs), held, an array begun
        live = [qsub(work, "running", "sleep 300"), qsub(work, "queued", "exit 0", "-l", "select=1:ncpus=64")]
        live.append(qsub(work, "held", "exit 0", "-h"))
        script = work / "arr.sh"
        script.write_text(ARRAY_SCRIPT)
        live.append(
            subprocess.run(
                [
                    str(BIN / "qsub"),
                    "-N",
                    "arr",
                    "-J",
                    "0-3%1",
                    "-j",
                    "oe",
                    "-o",
                    str(work / "arr.log"),
                    script,
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=work,
            ).stdout.strip()
        )
        seq, suffix = live[-1].split("[]")
        wait(f"{seq}[2]{suffix}", "R")
        data = subprocess.run(
            [
                str(BIN / "qstat"),
                "-f",
                "-F",
                "json",
                "-x",
                "-t",
                *ended,
                running,
                queued,
                done_array,
                del_array,
                *live,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        subprocess.run([str(BIN / "qdel"), *live], check=False)
    OUT.write_text(data)
    print(f"wrote {OUT} ({len(json.loads(data)['Jobs'])} records)")


if __name__ == "__main__":
    main()

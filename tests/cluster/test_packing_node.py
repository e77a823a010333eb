"""The single-node cluster's packing node (tests/cluster/slurm_up.sh): GPUs as GRES backed by fake devices, and
the CPU binding SLURM gives a job, read from inside real jobs.

What a job gets is printed as JSON by each job (run with ``-rA`` to see it): the GPU and CPU environment
variables and ``os.sched_getaffinity``; the tests check it against what slurmctld says it allocated.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPORT = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    import json, os, sys, time
    from pathlib import Path
    keys = [k for k in os.environ if k.startswith(("SLURM_CPU", "SLURM_JOB_CPUS", "SLURM_GPUS", "SLURM_JOB_GPUS",
            "SLURM_STEP_GPUS", "CUDA_", "GPU_DEVICE", "ROCR_", "ZE_AFFINITY", "SLURM_TASKS_PER", "SLURM_NTASKS"))]
    report = {"env": {k: os.environ[k] for k in sorted(keys)}, "affinity": sorted(os.sched_getaffinity(0))}
    opened = {}
    for dev in sorted(Path("/run/hydraflow-fake-gpu").glob("nvidia*")):
        try:
            os.close(os.open(dev, os.O_RDONLY))
            opened[dev.name] = "ok"
        except OSError as exc:
            opened[dev.name] = exc.strerror
    report["open"] = opened
    out = Path(sys.argv[1])
    out.write_text(json.dumps(report))
    # optional barrier: wait until every file named in argv[2:] exists (proves the jobs ran at the same time)
    deadline = time.time() + 120
    while any(not Path(p).exists() for p in sys.argv[2:]):
        if time.time() > deadline:
            sys.exit("barrier: the other job never ran at the same time")
        time.sleep(0.2)
    """
)


def _config() -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    pairs = (line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _node() -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "-o", "show", "node", "localhost"], capture_output=True, text=True, check=True
    )
    return dict(w.split("=", 1) for w in out.stdout.split() if "=" in w)


def _submit(tmp_path: Path, name: str, *sbatch_args: str, barrier: tuple[str, ...] = ()) -> tuple[str, Path]:
    script = tmp_path / "report.py"
    script.write_text(REPORT)
    out = tmp_path / f"{name}.json"
    job = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "-o",
            str(tmp_path / f"{name}.log"),
            *sbatch_args,
            "--wrap",
            " ".join(["python3", str(script), str(out), *(str(tmp_path / f"{b}.json") for b in barrier)]),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    return job, out


def _wait_report(job: str, out: Path, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while not out.exists():
        if time.monotonic() > deadline:
            subprocess.run(["scancel", job], check=False)
            pytest.fail(f"job {job} wrote no report in {timeout:.0f} s ({out.parent / out.stem}.log)")
        time.sleep(0.2)
    time.sleep(0.1)
    return json.loads(out.read_text())


def _alloc_cpu_ids(job: str) -> set[int]:
    """Abstract CPU ids slurmctld allocated to the job on the node (``scontrol -d show job``: CPU_IDs=0-3)."""
    out = subprocess.run(
        ["scontrol", "-d", "show", "job", job], capture_output=True, text=True, check=True
    ).stdout
    spec = next(w.split("=", 1)[1] for w in out.split() if w.startswith("CPU_IDs="))
    ids: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        ids.update(range(int(lo), int(hi or lo) + 1))
    return ids


@pytest.fixture(scope="module")
def gpus() -> int:
    gres = _node().get("Gres", "(null)")
    if not gres.startswith("gpu:"):
        msg = "the SLURM node has no GPUs (GRES): tests/cluster/slurm_up.sh with HF_SLURM_GPUS>0 (default 4)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return int(gres.split(":")[-1].split("(")[0])


def test_gpu_job_sees_its_two_devices(gpus: int, tmp_path: Path) -> None:
    job, out = _submit(tmp_path, "gpu2", "--gres=gpu:2")
    report = _wait_report(job, out)
    print(f"\n--gres=gpu:2 job {job} got: {json.dumps(report, indent=1)}")
    env = report["env"]
    assert env["SLURM_GPUS_ON_NODE"] == "2"
    job_gpus = [int(g) for g in env["SLURM_JOB_GPUS"].split(",")]
    assert len(job_gpus) == 2
    assert set(job_gpus) <= set(range(gpus))
    cuda = env["CUDA_VISIBLE_DEVICES"].split(",")
    assert len(cuda) == 2
    constrained = (
        "ConstrainDevices" in Path("/etc/slurm/cgroup.conf").read_text()
        if Path("/etc/slurm/cgroup.conf").exists()
        else False
    )
    if constrained and "task/cgroup" in _config()["TaskPlugin"]:
        # device cgroup: CUDA numbers the visible devices 0..K-1; the others are not even openable
        assert cuda == ["0", "1"]
        assert sorted(n for n, r in report["open"].items() if r == "Operation not permitted") == sorted(
            f"nvidia{i}" for i in set(range(gpus)) - set(job_gpus)
        )
    else:
        assert cuda == [str(g) for g in job_gpus]  # without a device cgroup: the global indices
    tres = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", job, "-o", "AllocTRES"], capture_output=True, text=True, check=True
    ).stdout
    assert "gres/gpu=2" in tres


def test_concurrent_gpu_jobs_get_disjoint_devices(gpus: int, tmp_path: Path) -> None:
    half = gpus // 2
    a, out_a = _submit(tmp_path, "a", f"--gres=gpu:{half}", barrier=("b",))
    b, out_b = _submit(tmp_path, "b", f"--gres=gpu:{half}", barrier=("a",))
    ra, rb = _wait_report(a, out_a), _wait_report(b, out_b)
    ga = {int(g) for g in ra["env"]["SLURM_JOB_GPUS"].split(",")}
    gb = {int(g) for g in rb["env"]["SLURM_JOB_GPUS"].split(",")}
    print(
        f"\nconcurrent jobs {a}: SLURM_JOB_GPUS={sorted(ga)} CUDA={ra['env']['CUDA_VISIBLE_DEVICES']}; "
        f"{b}: SLURM_JOB_GPUS={sorted(gb)} CUDA={rb['env']['CUDA_VISIBLE_DEVICES']}"
    )
    assert len(ga) == len(gb) == half
    assert not ga & gb
    # both ran at the same time: each waited for the other's report (a job whose barrier times out FAILS)
    _wait_finished(f"{a},{b}")


def _wait_finished(jobs: str, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-j", jobs, "-o", "JobID,State"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = [line.split("|") for line in out.splitlines() if line]
        if len(rows) == len(jobs.split(",")) and all(r[1] == "COMPLETED" for r in rows):
            return
        if any(r[1] in {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"} for r in rows):
            pytest.fail(f"jobs {jobs}: {rows}")
        if time.monotonic() > deadline:
            pytest.fail(f"jobs {jobs} not COMPLETED after {timeout:.0f} s: {rows}")
        time.sleep(0.5)


@pytest.mark.parametrize("cpus", [1, 4])
def test_cpu_binding_is_the_allocated_cpus_that_exist(gpus: int, tmp_path: Path, cpus: int) -> None:
    """task/affinity binds a job to the CPUs slurmctld allocated, as far as they exist on the machine: on a node
    advertising more CPUs than it has, a job allocated only non-existent ids runs unbound (all host CPUs)."""
    job, out = _submit(tmp_path, f"c{cpus}", f"--cpus-per-task={cpus}", barrier=(f"c{cpus}-go",))
    report = _wait_report(job, out)
    alloc = _alloc_cpu_ids(job)
    (tmp_path / f"c{cpus}-go.json").write_text("{}")
    host = os.sched_getaffinity(0)
    env = report["env"]
    print(
        f"\n--cpus-per-task={cpus} job {job}: CPU_IDs={sorted(alloc)} affinity={report['affinity']} env={env}"
    )
    assert env["SLURM_CPUS_PER_TASK"] == str(cpus)
    assert env["SLURM_CPUS_ON_NODE"] == str(cpus)
    assert len(alloc) == cpus
    plugin = _config()["TaskPlugin"]
    if plugin == "task/none":
        assert set(report["affinity"]) == host
    else:
        assert set(report["affinity"]) == (alloc & host or host)


def test_cpu_binding_of_a_job_beyond_the_real_cpus(gpus: int, tmp_path: Path) -> None:
    """Behind a job holding CPUs 0-1 (all this 2-core machine has), the next job is allocated ids that do not
    exist: slurmd cannot bind it ("more resources configured than exist") and it runs on every host CPU."""
    host = os.sched_getaffinity(0)
    first, out1 = _submit(tmp_path, "first", f"--cpus-per-task={len(host)}", barrier=("release",))
    _wait_report(first, out1)
    second, out2 = _submit(tmp_path, "second", f"--cpus-per-task={len(host)}", barrier=("release",))
    report = _wait_report(second, out2)
    alloc1, alloc2 = _alloc_cpu_ids(first), _alloc_cpu_ids(second)
    (tmp_path / "release.json").write_text("{}")
    print(
        f"\njob {first}: CPU_IDs={sorted(alloc1)}; job {second}: CPU_IDs={sorted(alloc2)} affinity={report['affinity']}"
    )
    assert not alloc1 & alloc2
    if _config()["TaskPlugin"] != "task/none":
        assert set(report["affinity"]) == (alloc2 & host or host)

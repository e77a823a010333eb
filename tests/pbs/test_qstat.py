"""qstat parsing (recorded PBS Pro JSON, Torque text and slurm-wlm-torque outputs), states, exit codes, ids,
and the watcher: one qstat call per poll for all jobs, sub-job mapping, vanished jobs reported as MISSING."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from hydraflow.launch.pbs import PBSInfoWatcher, PBSJobId, map_state, parse_pbspro_json, parse_qstat_full
from hydraflow.launch.pbs._qstat import (
    INCOMPLETE_STATES,
    describe_state,
    exit_state,
    never_runs,
    parse_qsub_output,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _states(records: dict[str, dict[str, str]]) -> dict[str, str]:
    return {key: info["State"] for key, info in records.items()}


OPENPBS = FIXTURES / "openpbs_qstat_f_json_x_t.json"  # recorded by tests/pbs/record_openpbs.py


def _by_name(records: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Records keyed by the case each recorded job shows (its Job_Name, plus ``[i]`` for sub-jobs)."""
    out = {}
    for key, info in records.items():
        index = key.partition("[")[2]
        out[info["JobName"] + (f"[{index}" if index else "")] = info
    return out


def test_openpbs_json_records_and_states() -> None:
    records = _by_name(parse_pbspro_json(OPENPBS.read_text()))
    assert {name: info["State"] for name, info in records.items()} == {
        "ok": "COMPLETED",
        "fail": "FAILED",
        "sigkill": "FAILED",  # the job shell reports 128 + 9 (not PBS's 256 + signal)
        "walltime": "TIMEOUT",  # Exit_status -29
        "del_running": "CANCELLED",  # qdel: substate 91
        "del_queued": "CANCELLED",
        "arr_done[]": "COMPLETED",
        "arr_done[0]": "COMPLETED",  # once the array has ended its sub-jobs are F, not X
        "arr_done[1]": "COMPLETED",
        "arr_del[]": "CANCELLED",
        "arr_del[0]": "CANCELLED",
        "arr_del[1]": "COMPLETED",
        "arr_del[2]": "CANCELLED",
        "running": "RUNNING",
        "queued": "PENDING",
        "held": "HELD",
        "arr[]": "RUNNING",  # B: array begun
        "arr[0]": "COMPLETED",  # X
        "arr[1]": "FAILED",
        "arr[2]": "RUNNING",
        "arr[3]": "PENDING",
    }
    assert records["fail"]["ExitStatus"] == "3"
    assert records["walltime"]["ExitStatus"] == "-29"
    assert records["arr[1]"]["ExitStatus"] == "2"
    assert records["arr[1]"]["JobID"].endswith("[1].pbshost")
    assert records["ok"]["NodeList"] == "pbshost/0"
    assert records["running"]["JobState"] == "R"
    assert "ExitStatus" not in records["running"]


def test_openpbs_deleted_jobs_say_whether_they_ran() -> None:
    # A sub-job deleted while queued copies its array's Exit_status (0 here): only the missing exec_host tells.
    records = _by_name(parse_pbspro_json(OPENPBS.read_text()))
    assert records["arr_del[2]"]["ExitStatus"] == "0"
    assert {
        name: describe_state(records[name])
        for name in ("del_running", "del_queued", "arr_del[0]", "arr_del[2]")
    } == {
        "del_running": "CANCELLED (deleted while running)",
        "del_queued": "CANCELLED (deleted before it started)",
        "arr_del[0]": "CANCELLED (deleted while running)",
        "arr_del[2]": "CANCELLED (deleted before it started)",
    }
    assert describe_state(records["arr[1]"]) == "FAILED"
    assert never_runs(records["queued"]) == "Insufficient amount of resource: ncpus (R: 64 A: 2 T: 2)"
    assert never_runs(records["held"]) is None
    assert never_runs(records["arr[3]"]) is None


def test_pbspro_json_with_unescaped_backslashes() -> None:
    # Some PBS Pro versions print environment values verbatim; the parser repairs the lone backslashes.
    records = parse_pbspro_json((FIXTURES / "pbspro_bad_escapes.json").read_text())
    assert records["77"]["State"] == "COMPLETED"


def test_pbspro_json_empty_and_garbage() -> None:
    assert parse_pbspro_json("") == {}
    assert parse_pbspro_json('{"timestamp": 1, "pbs_version": "2022.1", "pbs_server": "s"}') == {}
    with pytest.raises(ValueError, match="Expecting"):
        parse_pbspro_json("qstat: Unknown Job Id 5.pbs01\n{")


def test_torque_text_records_and_states() -> None:
    records = parse_qstat_full((FIXTURES / "torque_qstat_f.txt").read_text(), "torque")
    assert _states(records) == {
        "2001": "COMPLETED",
        "2002": "FAILED",
        "2003": "RUNNING",
        "2004": "PENDING",
        "2005": "TIMEOUT",  # exit_status -11: JOB_EXEC_OVERLIMIT_WT
        "2006": "CANCELLED",  # 256 + SIGTERM
        "2007[]": "RUNNING",
        "2007[0]": "COMPLETED",
        "2007[1]": "RUNNING",
        "2007[2]": "PENDING",
        "2008": "HELD",
    }
    assert records["2002"]["ExitStatus"] == "1"
    assert records["2007[0]"]["JobID"] == "2007[0].torque01.example.org"
    assert records["2001"]["JobName"] == "train"


def test_torque_continuation_lines_are_joined() -> None:
    text = (
        "Job Id: 5.srv\n    Variable_List = A=1,B=2,\n\tC=3,D=4\n    job_state = C\n    exit_status = 3\n"
        "    comment = a = b\n"
    )
    records = parse_qstat_full(text)
    assert records["5"]["State"] == "FAILED"


def test_slurm_torque_wrapper_output() -> None:
    # Recorded from slurm-wlm-torque's qstat -f on this machine: array 123 (task 0 = job 124, done; task 1 = job
    # 126, running; tasks 2-3 still in the pending array record 123) and a running job 125. No exit_status.
    records = parse_qstat_full((FIXTURES / "slurm_torque_qstat_f.txt").read_text(), "torque")
    assert _states(records) == {"123": "PENDING", "124": "FINISHED", "125": "RUNNING", "126": "RUNNING"}
    assert records["126"]["JobName"] == "fixarr"


@pytest.mark.parametrize(
    ("dialect", "exit_status", "expected"),
    [
        ("pbspro", 0, "COMPLETED"),
        ("pbspro", 3, "FAILED"),
        ("pbspro", 271, "CANCELLED"),
        ("pbspro", 265, "CANCELLED"),
        ("pbspro", 267, "FAILED"),  # SIGQUIT
        ("pbspro", -29, "TIMEOUT"),
        ("pbspro", -27, "OUT_OF_MEMORY"),
        ("pbspro", -1, "FAILED"),
        ("pbspro", None, "CANCELLED"),
        ("torque", 0, "COMPLETED"),
        ("torque", -11, "TIMEOUT"),
        ("torque", -10, "OUT_OF_MEMORY"),
        ("torque", 271, "CANCELLED"),
        ("torque", None, "FINISHED"),
    ],
)
def test_exit_codes(dialect: str, exit_status: int | None, expected: str) -> None:
    assert exit_state(dialect, exit_status) == expected


def test_active_states_are_incomplete() -> None:
    for code in "QWTHRBESUM":
        assert map_state("pbspro", code) in INCOMPLETE_STATES
    for code in "QWTHRES":
        assert map_state("torque", code) in INCOMPLETE_STATES
    assert map_state("pbspro", "C") == "UNKNOWN"  # C is not a PBS Pro state
    assert map_state("torque", "F") == "UNKNOWN"


@pytest.mark.parametrize(
    ("text", "submitit_id", "pbs", "key"),
    [
        ("1001.pbs01", "1001.pbs01", "1001.pbs01", "1001"),
        ("1010[].pbs01", "1010.pbs01", "1010[].pbs01", "1010[]"),
        ("1010[7].pbs01", "1010.pbs01_7", "1010[7].pbs01", "1010[7]"),
        ("2001.torque01.example.org", "2001.torque01.example.org", "2001.torque01.example.org", "2001"),
        ("123", "123", "123", "123"),
    ],
)
def test_job_ids(text: str, submitit_id: str, pbs: str, key: str) -> None:
    pid = PBSJobId.parse(text)
    assert pid.submitit_id() == submitit_id
    assert str(pid) == pbs
    assert pid.key == key
    if not pid.is_array:
        assert PBSJobId.from_submitit(submitit_id) == pid


def test_qsub_output() -> None:
    assert str(parse_qsub_output(b"1010[].pbs01\n")) == "1010[].pbs01"
    assert parse_qsub_output("Submitted to queue\n42\n").seq == "42"
    with pytest.raises(ValueError, match="could not read a job id"):
        parse_qsub_output("qsub: Unknown queue\n")
    with pytest.raises(ValueError, match="could not read a job id"):
        parse_qsub_output("")


def _seq(records: dict[str, dict[str, str]], name: str) -> str:
    return (
        next(info["JobID"] for info in records.values() if info["JobName"] == name)
        .split("[")[0]
        .split(".")[0]
    )


def test_resolve_subjobs_pbspro() -> None:
    watcher = PBSInfoWatcher("pbspro")
    records = parse_pbspro_json(OPENPBS.read_text())
    arr, done, ok = _seq(records, "arr"), _seq(records, "arr_done"), _seq(records, "ok")
    assert watcher.resolve(f"{arr}.pbshost_1", records)["State"] == "FAILED"
    assert watcher.resolve(f"{arr}.pbshost_3", records)["State"] == "PENDING"
    # a sub-job qstat does not list on its own shares its array's state
    del records[f"{done}[1]"]
    assert watcher.resolve(f"{done}.pbshost_1", records)["State"] == "COMPLETED"
    assert watcher.resolve(f"{ok}.pbshost", records)["State"] == "COMPLETED"
    assert watcher.resolve("999.pbshost", records) is None
    assert watcher.query_ids([f"{arr}.pbshost_1", f"{arr}.pbshost_2", f"{ok}.pbshost"]) == sorted(
        [f"{ok}.pbshost", f"{arr}[].pbshost"], key=lambda i: (len(i), i)
    )


def test_resolve_subjobs_through_markers_on_the_slurm_wrapper(tmp_path: Path) -> None:
    watcher = PBSInfoWatcher("torque")
    for index, slurm_id in ((0, "124"), (1, "126")):
        marker = tmp_path / f"123_{index}_scheduler_id"
        marker.write_text(slurm_id + "\n")
        watcher.register_marker(f"123_{index}", marker)
    for index in (2, 3):
        watcher.register_marker(f"123_{index}", tmp_path / f"123_{index}_scheduler_id")  # not started
    records = parse_qstat_full((FIXTURES / "slurm_torque_qstat_f.txt").read_text(), "torque")
    states = {i: watcher.resolve(f"123_{i}", records)["State"] for i in range(4)}
    assert states == {0: "FINISHED", 1: "RUNNING", 2: "PENDING", 3: "PENDING"}
    # bare numbers for the wrapper (its qstat matches ids as regular expressions), plus the started tasks
    assert watcher.query_ids([f"123_{i}" for i in range(4)]) == ["123", "124", "126"]


FAKE_QSTAT = """#!{python}
import os, sys
with open(os.environ["FAKE_QSTAT_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
sys.stdout.write(open(os.environ["FAKE_QSTAT_OUTPUT"]).read())
sys.stderr.write(os.environ.get("FAKE_QSTAT_STDERR", ""))
sys.exit(int(os.environ.get("FAKE_QSTAT_RC", "0")))
"""


@pytest.fixture
def fake_qstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A qstat printing a recorded output: server outages and vanished jobs on demand (the watcher alone)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "qstat"
    script.write_text(FAKE_QSTAT.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_QSTAT_LOG", str(log))

    def use(output: Path, rc: int = 0, stderr: str = "") -> Path:
        monkeypatch.setenv("FAKE_QSTAT_OUTPUT", str(output))
        monkeypatch.setenv("FAKE_QSTAT_RC", str(rc))
        monkeypatch.setenv("FAKE_QSTAT_STDERR", stderr)
        return log

    return use


def test_one_qstat_call_per_poll_for_all_jobs(fake_qstat) -> None:
    log = fake_qstat(OPENPBS)
    records = parse_pbspro_json(OPENPBS.read_text())
    ok, run, queued, arr = (_seq(records, name) for name in ("ok", "running", "queued", "arr"))
    watcher = PBSInfoWatcher("pbspro")
    jobs = [f"{ok}.pbshost", f"{run}.pbshost", f"{queued}.pbshost", *(f"{arr}.pbshost_{i}" for i in range(4))]
    for job in jobs:
        watcher.register_job(job)
    assert watcher.get_state(f"{run}.pbshost", mode="force") == "RUNNING"
    assert log.read_text().splitlines() == [
        f"-f -F json -x -t {ok}.pbshost {run}.pbshost {queued}.pbshost {arr}[].pbshost",
    ]
    assert [watcher.get_state(j, mode="cache") for j in jobs] == [
        "COMPLETED",
        "RUNNING",
        "PENDING",
        "COMPLETED",
        "FAILED",
        "RUNNING",
        "PENDING",
    ]
    assert watcher.num_calls == 1
    # finished jobs are not asked for again
    watcher.update()
    assert (
        log.read_text().splitlines()[-1] == f"-f -F json -x -t {run}.pbshost {queued}.pbshost {arr}[].pbshost"
    )


def test_vanished_job_is_reported_missing_not_waited_for(fake_qstat, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text('{"timestamp":1,"pbs_version":"2022.1.3","pbs_server":"pbs01"}')
    fake_qstat(empty, rc=153, stderr="qstat: Unknown Job Id 4242.pbs01\n")
    watcher = PBSInfoWatcher("pbspro")
    watcher.register_job("4242.pbs01")
    assert watcher.get_state("4242.pbs01", mode="force") == "UNKNOWN"
    assert not watcher.is_done("4242.pbs01", mode="cache")
    assert watcher.get_state("4242.pbs01", mode="force") == "MISSING"
    assert watcher.is_done("4242.pbs01", mode="cache")
    assert "not listed by qstat" in watcher.get_info("4242.pbs01", mode="cache")["Reason"]


def test_failing_qstat_keeps_states(fake_qstat, tmp_path: Path) -> None:
    run = f"{_seq(parse_pbspro_json(OPENPBS.read_text()), 'running')}.pbshost"
    watcher = PBSInfoWatcher("pbspro")
    watcher.register_job(run)
    fake_qstat(OPENPBS)
    assert watcher.get_state(run, mode="force") == "RUNNING"
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("")
    fake_qstat(garbage, rc=2, stderr="qstat: cannot connect to server pbs01 (errno=111)\n")
    for _ in range(3):  # a server outage never turns into MISSING
        assert watcher.get_state(run, mode="force") == "RUNNING"

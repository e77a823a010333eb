"""qstat parsing (recorded PBS Pro JSON, Torque text and slurm-wlm-torque outputs), states, exit codes, ids,
and the watcher: one qstat call per poll for all jobs, sub-job mapping, vanished jobs reported as MISSING."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from hydraflow.launch.pbs import PBSInfoWatcher, PBSJobId, map_state, parse_pbspro_json, parse_qstat_full
from hydraflow.launch.pbs._qstat import INCOMPLETE_STATES, exit_state, parse_qsub_output

FIXTURES = Path(__file__).parent / "fixtures"


def _states(records: dict[str, dict[str, str]]) -> dict[str, str]:
    return {key: info["State"] for key, info in records.items()}


def test_pbspro_json_records_and_states() -> None:
    records = parse_pbspro_json((FIXTURES / "pbspro_qstat_f_json_x_t.json").read_text())
    assert _states(records) == {
        "1001": "COMPLETED",
        "1002": "FAILED",
        "1003": "RUNNING",
        "1004": "PENDING",
        "1005": "HELD",
        "1006": "CANCELLED",  # deleted while running (substate 91, Exit_status 271)
        "1007": "TIMEOUT",  # Exit_status -29: walltime
        "1008": "CANCELLED",  # deleted while queued: no Exit_status
        "1009": "CANCELLED",  # killed by SIGKILL (256 + 9)
        "1010[]": "RUNNING",  # array begun
        "1010[0]": "COMPLETED",
        "1010[1]": "FAILED",
        "1010[2]": "RUNNING",
        "1010[3]": "PENDING",
        "1011[]": "COMPLETED",
    }
    assert records["1002"]["ExitStatus"] == "1"
    assert records["1010[1]"]["ExitStatus"] == "2"
    assert records["1010[1]"]["JobID"] == "1010[1].pbs01"
    assert records["1001"]["NodeList"] == "cn017/0*4"
    assert records["1003"]["JobState"] == "R"
    assert "ExitStatus" not in records["1003"]


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


def test_resolve_subjobs_pbspro() -> None:
    watcher = PBSInfoWatcher("pbspro")
    records = parse_pbspro_json((FIXTURES / "pbspro_qstat_f_json_x_t.json").read_text())
    assert watcher.resolve("1010.pbs01_1", records)["State"] == "FAILED"
    assert watcher.resolve("1010.pbs01_3", records)["State"] == "PENDING"
    # sub-jobs of a finished array that qstat no longer expands share the array's end state
    assert watcher.resolve("1011.pbs01_1", records)["State"] == "COMPLETED"
    assert watcher.resolve("1001.pbs01", records)["State"] == "COMPLETED"
    assert watcher.resolve("999.pbs01", records) is None
    assert watcher.query_ids(["1010.pbs01_1", "1010.pbs01_2", "1001.pbs01"]) == ["1001.pbs01", "1010[].pbs01"]


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
    """A stand-in for PBS Pro's qstat (no PBS server can run here) that prints a recorded output."""
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
    log = fake_qstat(FIXTURES / "pbspro_qstat_f_json_x_t.json")
    watcher = PBSInfoWatcher("pbspro")
    jobs = ["1001.pbs01", "1003.pbs01", "1004.pbs01", *(f"1010.pbs01_{i}" for i in range(4))]
    for job in jobs:
        watcher.register_job(job)
    assert watcher.get_state("1003.pbs01", mode="force") == "RUNNING"
    assert log.read_text().splitlines() == [
        "-f -F json -x -t 1001.pbs01 1003.pbs01 1004.pbs01 1010[].pbs01",
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
    assert log.read_text().splitlines()[-1] == "-f -F json -x -t 1003.pbs01 1004.pbs01 1010[].pbs01"


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
    watcher = PBSInfoWatcher("pbspro")
    watcher.register_job("1003.pbs01")
    fake_qstat(FIXTURES / "pbspro_qstat_f_json_x_t.json")
    assert watcher.get_state("1003.pbs01", mode="force") == "RUNNING"
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("")
    fake_qstat(garbage, rc=2, stderr="qstat: cannot connect to server pbs01 (errno=111)\n")
    for _ in range(3):  # a server outage never turns into MISSING
        assert watcher.get_state("1003.pbs01", mode="force") == "RUNNING"

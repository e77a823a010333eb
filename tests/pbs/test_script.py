"""Job scripts and qsub command lines of the PBS executor: golden files for both dialects, input validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hydraflow.launch.pbs import PBSConfigError, PBSExecutor
from hydraflow.launch.pbs._script import make_spec, memory, qsub_command, walltime

FIXTURES = Path(__file__).parent / "fixtures"
FOLDER = "/shared/alice/logs/%j"
PYTHON = ["/opt/venv/bin/python"]

FULL = {
    "job_name": "train",
    "timeout_min": 90,
    "nodes": 2,
    "ncpus": 8,
    "ngpus": 2,
    "mem_gb": 32,
    "queue": "gpuq",
    "account": "proj42",
    "array_parallelism": 2,
    "additional_resources": {"place": "scatter:excl"},
    "additional_directives": ["-m abe", "-M alice@example.org"],
    "setup": ["module load cuda/12.1", "source /opt/venv/bin/activate"],
    "signal_delay_s": 120,
}

CASES = {
    "pbspro_single": ("pbspro", {}, None),
    "pbspro_array": ("pbspro", {"job_name": "sweep", "ncpus": 2, "mem_gb": 0.5, "array_parallelism": 3}, 5),
    "pbspro_full_array": ("pbspro", {**FULL, "mpiprocs": 4}, 10),
    "torque_single": (
        "torque",
        {"job_name": "train", "timeout_min": 30, "mem_gb": 4, "queue": "batch"},
        None,
    ),
    "torque_array": ("torque", {"job_name": "sweep", "array_parallelism": 2}, 4),
    "torque_full_single": ("torque", {**FULL, "teardown": ["echo done"], "export_env": False}, None),
}


def _executor(dialect: str, params: dict) -> PBSExecutor:
    ex = PBSExecutor(FOLDER, dialect=dialect, python=PYTHON)
    ex.update_parameters(**params)
    return ex


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_scripts(case: str) -> None:
    dialect, params, count = CASES[case]
    text = _executor(dialect, params).submission_script("5c1f", count)
    golden = FIXTURES / f"{case}.sh"
    if os.environ.get("HYDRAFLOW_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_golden_scripts_are_valid_bash(tmp_path: Path) -> None:
    import subprocess

    for case in CASES:
        proc = subprocess.run(
            ["bash", "-n", str(FIXTURES / f"{case}.sh")], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, (case, proc.stderr)


def test_key_directives_per_dialect() -> None:
    pro = _executor("pbspro", {"ncpus": 4, "ngpus": 1, "mem_gb": 8, "timeout_min": 61}).submission_script(
        "u", 3
    )
    assert "#PBS -l select=1:ncpus=4:ngpus=1:mem=8gb\n" in pro
    assert "#PBS -l walltime=01:01:00\n" in pro
    assert "#PBS -J 0-2\n" in pro
    assert "#PBS -o /shared/alice/logs/u.^array_index^.pbs.log\n" in pro
    tq = _executor("torque", {"ncpus": 4, "ngpus": 1, "mem_gb": 8}).submission_script("u", 3)
    assert "#PBS -l nodes=1:ppn=4:gpus=1\n" in tq
    assert "#PBS -l mem=8gb\n" in tq
    assert "#PBS -t 0-2\n" in tq
    assert "-J" not in tq
    for text in (pro, tq):
        assert "export SUBMITIT_EXECUTOR=pbs\n" in text
        assert text.rstrip().endswith(
            "exec /opt/venv/bin/python -u -m hydraflow.launch.pbs /shared/alice/logs/%j"
        )


def test_generic_submitit_names_are_translated() -> None:
    ex = PBSExecutor(FOLDER, python=PYTHON)
    converted = ex._convert_parameters(
        {
            "name": "n",
            "timeout_min": 7,
            "cpus_per_task": 3,
            "gpus_per_node": 1,
            "tasks_per_node": 2,
            "mem_gb": 1,
        }
    )
    assert converted == {
        "job_name": "n",
        "timeout_min": 7,
        "ncpus": 3,
        "ngpus": 1,
        "mpiprocs": 2,
        "mem_gb": 1,
    }
    ex.update_parameters(**converted)
    assert "#PBS -l select=1:ncpus=3:mpiprocs=2:ngpus=1:mem=1gb" in ex.submission_script()


def test_qsub_command_is_an_argument_list() -> None:
    pro = make_spec("pbspro", {})
    assert qsub_command(pro, "/s/.submission_file_u.sh", "/s/u.pbs.log") == [
        "qsub",
        "/s/.submission_file_u.sh",
    ]
    tq = make_spec("torque", {})
    assert qsub_command(tq, "/s/x.sh", "/s/u.pbs.log") == [
        "qsub",
        "-j",
        "oe",
        "-o",
        "/s/u.pbs.log",
        "/s/x.sh",
    ]


def test_python_command_is_quoted_not_interpreted() -> None:
    ex = PBSExecutor(FOLDER, python="'/opt/my env/bin/python' -X dev")
    assert ex.python == ["/opt/my env/bin/python", "-X", "dev"]
    assert "exec '/opt/my env/bin/python' -X dev -u -m hydraflow.launch.pbs" in ex.submission_script()
    ex = PBSExecutor(FOLDER, python=["python3", "$(rm -rf ~)"])
    assert "exec python3 '$(rm -rf ~)' -u" in ex.submission_script()


def test_units() -> None:
    assert walltime(1) == "00:01:00"
    assert walltime(60 * 100 + 1) == "100:01:00"
    assert memory(1) == "1gb"
    assert memory(1.5) == "1536mb"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"job_name": "a\nb"}, "job_name='a\\nb'"),
        ({"job_name": "two words"}, "job_name='two words'"),
        ({"job_name": ""}, "job_name=''"),
        ({"job_name": "-N evil"}, "job_name='-N evil'"),
        ({"queue": "workq\n#PBS -l select=100"}, "queue="),
        ({"account": "a b"}, "account='a b'"),
        ({"timeout_min": 0}, "timeout_min=0: must be an integer >= 1"),
        ({"timeout_min": 1.5}, "timeout_min=1.5"),
        ({"ncpus": True}, "ncpus=True"),
        ({"nodes": "2"}, "nodes='2'"),
        ({"mem_gb": -1}, "mem_gb=-1: must be a positive number"),
        ({"additional_directives": ["-m abe\n-q other"]}, "additional_directives="),
        ({"additional_directives": ["m abe"]}, "starting with '-'"),
        ({"additional_directives": "-m abe"}, "must be a list of strings"),
        ({"additional_resources": {"place": "scatter excl"}}, "value of 'place'"),
        ({"additional_resources": {"bad key": "1"}}, "resource name 'bad key'"),
        ({"setup": "module load x"}, "setup='module load x': must be a list of strings"),
        ({"export_env": "yes"}, "export_env='yes': must be true or false"),
        ({"setup": ["module load x\n#PBS -q other"]}, "contains a #PBS line; use additional_directives"),
        ({"partition": "debug"}, "Unknown PBS parameter(s): ['partition']"),
    ],
)
def test_bad_values_are_refused_with_the_parameter_name(params: dict, fragment: str) -> None:
    ex = PBSExecutor(FOLDER, python=PYTHON)
    with pytest.raises(PBSConfigError) as info:
        ex.update_parameters(**params)
    assert fragment in str(info.value)
    assert ex.parameters == {}  # nothing half-applied


def test_torque_has_no_mpiprocs() -> None:
    with pytest.raises(PBSConfigError, match="torque dialect has no mpiprocs"):
        _executor("torque", {"mpiprocs": 4})


def test_unknown_dialect_and_unsafe_folder() -> None:
    with pytest.raises(PBSConfigError, match="dialect 'sge' is unknown"):
        PBSExecutor(FOLDER, dialect="sge")
    with pytest.raises(PBSConfigError, match=r"folder='/shared/my logs/%j'.*contains ' '"):
        PBSExecutor("/shared/my logs/%j")
    with pytest.raises(PBSConfigError, match=r"folder=.*contains"):
        PBSExecutor("/shared/x;rm -rf ~")
    with pytest.raises(PBSConfigError, match="empty command"):
        PBSExecutor(FOLDER, python=[])


def test_array_needs_two_jobs() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        _executor("pbspro", {}).submission_script("u", 1)

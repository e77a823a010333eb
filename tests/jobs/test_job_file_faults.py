"""Broken, hostile and absurd job files: a clear error with the key path and line, quickly, never a traceback."""

from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydraflow.jobs import JobFileError, load_job_file, parse_job_file, plan, safe_yaml
from hydraflow.jobs.safe_yaml import split_args
from hydraflow.jobs.schema import close_match, launcher_settings_problem, list_names

if TYPE_CHECKING:
    from pathlib import Path


def error(text: str) -> JobFileError:
    with pytest.raises(JobFileError) as info:
        parse_job_file(textwrap.dedent(text).lstrip("\n"), "hydraflow.yaml")
    return info.value


# ------------------------------------------------------------------------------------------------ types


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "jobs:\n  a:\n    run: 5\n",
            3,
            "jobs.a.run must be a string or a list of strings, got the integer 5",
        ),
        ("jobs:\n  a:\n    run: [python, 5]\n", 3, "jobs.a.run[2] must be a string, got the integer 5"),
        ("jobs:\n  a:\n    run: true\n", 3, "got the boolean true"),
        (
            "jobs:\n  a:\n    run: {x: 1}\n",
            3,
            "jobs.a.run must be a string or a list of strings, got a mapping",
        ),
        ("jobs:\n  a:\n    call: 3.5\n", 3, "jobs.a.call must be a string, got the number 3.5"),
        ("jobs:\n  a:\n    call: [m.f]\n", 3, "jobs.a.call must be a string, got a list"),
        ("jobs:\n  a:\n    submit: 1\n", 3, "jobs.a.submit must be a string"),
        (
            "jobs:\n  a:\n    run: x\n    add: 2024-01-01\n",
            4,
            "jobs.a.add must be a string or a list of strings, got the date",
        ),
        (
            "jobs:\n  a:\n    run: x\n  b:\n    run: y\n    needs: [a, 7]\n",
            6,
            "jobs.b.needs[2] (a job name) must be a string",
        ),
        (
            "jobs:\n  a:\n    run: x\n    needs: {a: 1}\n",
            4,
            "jobs.a.needs must be a job name or a list of job names",
        ),
        (
            "jobs:\n  5:\n    run: x\n",
            2,
            "keys of 'jobs' must be names (strings), got the integer 5; quote it: '5'",
        ),
        (
            "jobs:\n  a:\n    run: x\n    sets:\n      - each: 1:3\n",
            5,
            "base-60 integer 1:3 (YAML 1.1 reads it as 63)",
        ),
        (
            "jobs:\n  a:\n    run: x\n    sets:\n      - all: [seed=1, 2]\n",
            5,
            "jobs.a.sets[1].all[2] must be a string",
        ),
        (
            "jobs:\n  a:\n    run: x\n    sets:\n      - each: x=1\n        add: 1.5\n",
            6,
            "jobs.a.sets[1].add must be",
        ),
        (
            "jobs:\n  a:\n    run: x\n    sets:\n      - 5\n",
            5,
            "set 1 of job 'a' must be a mapping, got the integer 5",
        ),
    ],
)
def test_every_value_has_its_schema_type(text: str, line: int, fragment: str) -> None:
    with pytest.raises(JobFileError) as info:
        parse_job_file(text, "hydraflow.yaml")
    assert fragment in info.value.message
    assert info.value.line == line, str(info.value)


def test_quoted_values_are_strings() -> None:
    jf = parse_job_file("jobs:\n  '5':\n    run: '5'\n    sets:\n      - each: '1:3'\n        add: ['x=1']\n")
    assert jf["5"].target == ("5",)
    assert jf["5"].sets[0].each == ("1:3",)


# ------------------------------------------------------------------------------------------------- tags


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object/apply:os.system [echo pwned]", "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!custom x", "!custom"),
        ("!!binary aGk=", "!!binary"),
        ("!!set {a, b}", "!!set"),
    ],
)
def test_tags_other_than_plain_ones_are_refused_with_the_tag_and_line(value: str, tag: str) -> None:
    err = error(f"jobs:\n  a:\n    run: x\n    sets:\n      - each: {value}\n")
    assert err.line == 5
    assert err.column == 15
    assert f"YAML tag {tag!r} is not allowed" in err.message


def test_plain_explicit_tags_are_fine() -> None:
    assert parse_job_file("jobs:\n  a:\n    run: !!str python\n")["a"].target == ("python",)


def test_an_alias_bomb_is_not_multiplied() -> None:
    levels = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 12))
    text = "l0: &l0 [x]\n" + levels + "jobs:\n  a:\n    run: x\n"
    err = error(text)  # 9**11 paths if each alias were expanded; one visit per node here
    assert "unknown top-level key 'l0'" in err.message


# ----------------------------------------------------------------------------------------------- limits


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    flow = error("jobs:\n  a:\n    run: " + "[" * 500 + "]" * 500 + "\n")
    assert "nested more than 32 levels deep" in flow.message
    assert flow.line == 3
    block = "jobs:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 600)) + "  " * 600 + "x: 1\n"
    assert "nested more than 32 levels deep" in error(block).message


def test_deep_nesting_with_the_pure_python_loader_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safe_yaml, "_LOADER", safe_yaml.yaml.SafeLoader)
    assert (
        "nested more than" in error("jobs:\n  a:\n    run: " + "{a: " * 800 + "1" + "}" * 800 + "\n").message
    )
    assert "is not allowed" in error("jobs:\n  a:\n    run: !!python/name:os.system\n").message


def test_too_many_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safe_yaml, "MAX_NODES", 50)
    err = error("jobs:\n" + "".join(f"  j{i}:\n    run: x\n" for i in range(30)))
    assert "more than 50 YAML values" in err.message
    assert err.line is not None


def test_a_50_mb_one_line_each_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "hydraflow.yaml"
    with path.open("w") as f:
        f.write("jobs:\n  a:\n    run: python app.py\n    sets:\n      - each: a=")
        f.write(",".join(str(i) for i in range(7_000_000)))  # ~50 MB on one line
        f.write("\n")
    with pytest.raises(JobFileError, match=r"the job file has 5\d\.\d MiB; at most 4 MiB are read"):
        load_job_file(path)
    with pytest.raises(JobFileError, match="at most 4 MiB"):
        parse_job_file(path.read_text(), path)


def test_a_large_each_splits_and_counts_in_linear_time(tmp_path: Path) -> None:
    """A 3.7 MB one-line ``each`` (shlex.split needed hours): a hang detector, not a speed test."""
    path = tmp_path / "hydraflow.yaml"
    each = "a=" + ",".join(str(i) for i in range(550_000)) + " b='x y'"
    path.write_text(f"jobs:\n  a:\n    call: m.f\n    sets:\n      - each: {each}\n")
    code = (
        "import sys\nfrom hydraflow.jobs import load_job_file, plan\n"
        "((_, steps),) = plan(load_job_file(sys.argv[1]))\nprint(steps[0].count)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "550000"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" \t\n'\"\\ab$", max_size=20))
def test_split_args_splits_like_shlex(text: str) -> None:
    try:
        expected: list[str] | str = shlex.split(text)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: list[str] | str = split_args(text)
    except ValueError as exc:
        got = str(exc)
    assert got == expected


# ------------------------------------------------------------------------------------------ messages


def test_name_lists_are_truncated() -> None:
    names = [f"job{i}" for i in range(710_000)]
    assert list_names(names) == ", ".join(names[:10]) + " and 709,990 more"
    assert close_match("job70000x", names) in {"job70000", "job700001", "job700000"}
    assert close_match("zzz", names) is None


def test_an_unknown_need_among_thousands_of_jobs_names_a_few() -> None:
    text = (
        "jobs:\n"
        + "".join(f"  j{i}:\n    run: x\n" for i in range(3000))
        + "  z:\n    run: x\n    needs: qqq\n"
    )
    err = error(text)
    assert "needs 'qqq', which is not defined (jobs: j0, j1," in err.message
    assert "and 2,991 more)" in err.message
    assert len(err.message) < 300


def test_a_long_value_is_not_repeated_in_a_message() -> None:
    err = error("jobs:\n  a:\n    run: 'x " + "'" * 0 + '"' + "y" * 100_000 + "'\n")
    assert "cannot split" in err.message
    assert len(err.message) < 400


def test_an_inexact_range_in_a_set_is_a_clear_error_with_a_caret() -> None:
    jf = parse_job_file("jobs:\n  a:\n    run: x\n    sets:\n      - each: x=0:1e300:3e-300\n")
    with pytest.raises(JobFileError) as info:
        plan(jf)
    assert info.value.line == 5
    assert "range needs 601 significant digits" in info.value.message
    assert info.value.message.endswith("x=0:1e300:3e-300\n  ^")


# ------------------------------------------------------------------------------------------- launchers


def test_a_setting_of_another_launcher_is_named() -> None:
    problem = launcher_settings_problem(["seed=1", "hydra.launcher.n_jobs=2"], "hydraflow_slurm")
    assert problem is not None
    assert problem.startswith("'hydra.launcher.n_jobs=2' is not a setting of the hydraflow_slurm launcher")
    assert "hydraflow_local" in problem
    assert "--add hydra.launcher.n_jobs=2" in problem
    assert launcher_settings_problem(["hydra.launcher.n_jobs=2"], "hydraflow_local") is None
    assert launcher_settings_problem(["hydra.launcher.partition=gpu"], "hydraflow_slurm") is None
    assert launcher_settings_problem(["hydra.launcher.queue=q", "+x=1"], "hydraflow_pbs") is None
    assert launcher_settings_problem(["++hydra.launcher.n_jobs=2"], "hydraflow_slurm") is None
    assert launcher_settings_problem(["hydra.launcher.n_jobs=2"], "no_such_launcher") is None


def test_doctests_of_safe_yaml() -> None:
    import doctest

    result = doctest.testmod(safe_yaml, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

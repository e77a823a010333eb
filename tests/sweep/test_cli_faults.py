"""`hydraflow expand` on the inputs of issue 13, as real subprocesses: each ends within 10 s.

A refused input exits with code 2 and prints the message, the argument and a caret under the column on stderr
(nothing on stdout, never a traceback); a huge valid sweep is counted at once and streams its first jobs.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

LIMIT_S = 10


def expand(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hydraflow", "expand", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=LIMIT_S,
    )


REFUSED = {
    "x=0:1e300:1e-300": (2, "range needs 601 significant digits"),
    "x=0:1e300:3e-300": (2, "range needs 601 significant digits"),
    "x=(1e5000)": (2, "number out of range: '1e5000'"),
    "x=(1)e(5000)": (2, "number out of range: '1e5000'"),
    "lr/e300=1e4000": (8, "number out of range: '1e4000' times 1e300"),
    "a=(1e-999999999)": (2, "number out of range: '1e-999999999'"),
    "a=1:" + "9" * 100_000: (4, "number out of range: '9999999999999999...99999999' (100000 characters)"),
    "a=" + "(" * 500 + "1" + ")" * 500: (52, "nested more than 50 levels deep"),
    "a=" + "[" * 500 + "1" + "]" * 500: (52, "nested more than 50 levels deep"),
    "a={" + "a:{" * 500 + "1" + "}" * 501: (152, "nested more than 50 levels deep"),
    "x=(1e999999999)": (2, "number out of range: '1e999999999'"),
    "x=sort(range(0,1000000000))": (7, "range(0,1000000000) has 1,000,000,000 values"),
    "x=range(inf)": (8, "range() needs finite numbers"),
    "x=range(0, 1e9, 0.1)": (2, "not exact in Hydra's 28-digit arithmetic"),
}


@pytest.mark.slow
@pytest.mark.parametrize("arg", list(REFUSED), ids=lambda a: a[:30])
def test_refused_with_exit_2_and_a_caret(arg: str) -> None:
    column, fragment = REFUSED[arg]
    out = expand(arg)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert lines[0].startswith("error: argument 1: ")
    assert fragment in lines[0]
    assert lines[-2] == arg
    assert lines[-1] == " " * column + "^"
    assert "Traceback" not in out.stderr
    assert "Exceeds the limit" not in out.stderr


COUNTED = {
    "x=(0:1e9)": 10**9 + 1,
    "x=(0:1e9)k": 10**9 + 1,
    "lr/m=(0:1e9)": 10**9 + 1,
    "lr/m=1,(0:1e9)": 10**9 + 2,
    "x=" + "(1,2)" * 25: 2**25,
    "x/m=" + "(1,2)" * 25: 2**25,
    "x=range(0,1000000000)": 10**9,
    "x=range(1e12)": 10**12,
}


@pytest.mark.slow
@pytest.mark.parametrize("arg", list(COUNTED), ids=lambda a: a[:30])
def test_huge_sweeps_count_at_once(arg: str) -> None:
    out = expand("--count", arg, "seed=1:1e6")
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == COUNTED[arg] * 10**6  # a 10^15-job sweep is counted, never enumerated


def test_a_huge_sweep_streams_its_first_jobs() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hydraflow", "expand", "x=range(1e12)", "lr/m=(1,2)(0:9)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.kill()
        proc.wait(LIMIT_S)
        if proc.stdout is not None:
            proc.stdout.close()
    assert first == ["x=0.0 lr=0.01\n", "x=0.0 lr=0.011\n", "x=0.0 lr=0.012\n"]

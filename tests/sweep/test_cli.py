"""`hydraflow expand` as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hydraflow", "expand", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_one_job_per_line_shell_quoted() -> None:
    out = run("a=1:2", "b=x y,z")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "a=1 'b=x y'\na=1 b=z\na=2 'b=x y'\na=2 b=z\n"
    assert out.stderr == ""


def test_json() -> None:
    out = run("--json", "model=(cnn,vit)_(small,large)", "lr/m=@w:1,2", "steps/k=@w:1,2")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        ["model=cnn_small", "lr=1e-3", "steps=1000"],
        ["model=cnn_small", "lr=2e-3", "steps=2000"],
        ["model=cnn_large", "lr=1e-3", "steps=1000"],
        ["model=cnn_large", "lr=2e-3", "steps=2000"],
        ["model=vit_small", "lr=1e-3", "steps=1000"],
        ["model=vit_small", "lr=2e-3", "steps=2000"],
        ["model=vit_large", "lr=1e-3", "steps=1000"],
        ["model=vit_large", "lr=2e-3", "steps=2000"],
    ]


def test_count_is_exact_for_huge_sweeps() -> None:
    out = run("--count", *(f"k{i}=0:999" for i in range(10)))
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"{1000**10}\n"


def test_native_hydra_functions() -> None:
    out = run("a=range(1,3)", "+b=choice(x,y)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["a=1 +b=x", "a=1 +b=y", "a=2 +b=x", "a=2 +b=y"]


@pytest.mark.parametrize(
    ("args", "message", "text_line", "caret_line"),
    [
        (["a=1,2", "b=5:3"], "argument 2: empty range: start 5 is above stop 3", "b=5:3", "  ^"),
        (["a=(1,2"], "argument 1: unclosed '('", "a=(1,2", "  ^"),
        (["db=glob(*)"], "glob() lists the options of a config group", "db=glob(*)", "   ^"),
        (
            ["a=1", "x=@w:1,2", "y=@w:1", "b=2"],
            "paired sweep @w: 'x' has 2 values but 'y' has 1",
            "y=@w:1",
            "  ^",
        ),
        (["a=1", "b=2", "a=3"], "argument 3: duplicate key 'a'", "a=3", "^"),
    ],
)
def test_bad_input_exit_2_caret_on_stderr_nothing_on_stdout(
    args: list[str], message: str, text_line: str, caret_line: str
) -> None:
    out = run(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.startswith("error: ")
    lines = out.stderr.splitlines()
    assert message in lines[0]
    assert lines[1:] == [text_line, caret_line]


def test_plain_sweeps_do_not_import_hydra() -> None:
    code = (
        "import sys; from hydraflow.sweep import expand;"
        "from hydraflow.hydra_adapter.native import make_native_expander;"
        "list(expand(['a=1:3', 'b=(x,y)_z'], native=make_native_expander()));"
        "print(any(m == 'hydra' or m.startswith(('hydra.', 'mlflow')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"

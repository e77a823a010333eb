"""The `hydraflow expand` examples of docs/sweep-syntax.md and docs/cli.md show real output.

Run with HYDRAFLOW_UPDATE_DOCS=1 to rewrite the outputs in place after changing an example.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hydraflow.cli import app

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^(?P<indent>[ ]*)```console\n(?P<body>.*?)^(?P=indent)```", re.MULTILINE | re.DOTALL)


def run(command: str) -> list[str]:
    argv = shlex.split(command)
    result = CliRunner().invoke(app, argv[1:])
    return result.output.splitlines()


def render(text: str) -> str:
    def block(m: re.Match[str]) -> str:
        indent = m.group("indent")
        commands = [
            line.strip()[2:] for line in m.group("body").splitlines() if line.strip().startswith("$ ")
        ]
        if not commands or not all(c.startswith("hydraflow expand ") for c in commands):
            return m.group(0)  # other commands' examples belong to other pages' tests
        lines = [f"{indent}```console"]
        for command in commands:
            lines.append(f"{indent}$ {command}")
            lines.extend(f"{indent}{out}".rstrip() for out in run(command))
        lines.append(f"{indent}```")
        return "\n".join(lines)

    return BLOCK.sub(block, text)


@pytest.mark.parametrize("page", ["sweep-syntax.md", "cli.md"])
def test_examples_show_real_output(page: str) -> None:
    path = DOCS / page
    text = path.read_text()
    expected = render(text)
    if os.environ.get("HYDRAFLOW_UPDATE_DOCS") == "1":
        path.write_text(expected)
        return
    assert text == expected, f"{page} is stale: rerun with HYDRAFLOW_UPDATE_DOCS=1"

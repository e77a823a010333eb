"""docs/coming-from-hydraflow.md as a user runs it: the app swept as a real Hydra subprocess, then the analysis.

The page's ``train.py`` block is written to a file, its ``bash`` command runs (twice: the second run skips every
job), and its untitled ``python`` blocks run in order; every ``print`` line's ``# expected`` comment is checked.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "coming-from-hydraflow.md"
FENCE = re.compile(r"```(\w+)( [^\n]*)?\n(.*?)```", re.DOTALL)


def fences() -> list[tuple[str, str, str]]:
    return [(m.group(1), (m.group(2) or "").strip(), m.group(3)) for m in FENCE.finditer(DOC.read_text())]


def expected_outputs(code: str) -> list[str]:
    """The ``# comment`` of each ``print(...)`` line, in order."""
    return [
        line.split("  # ", 1)[1].strip()
        for line in code.splitlines()
        if line.startswith("print(") and "  # " in line
    ]


@pytest.mark.slow
def test_page_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    blocks = fences()
    (app,) = [code for lang, title, code in blocks if lang == "python" and title == 'title="train.py"']
    (command,) = [code.strip() for lang, _, code in blocks if lang == "bash" and "train.py" in code]
    analysis = [code for lang, title, code in blocks if lang == "python" and not title]
    assert len(analysis) == 2

    (tmp_path / "train.py").write_text(app)
    argv = shlex.split(command)
    assert argv[0] == "python"
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).count("skipping job") == 6  # the second sweep found all six runs

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    module = types.ModuleType("docs_coming_from_hydraflow")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for code in analysis:
        capsys.readouterr()
        exec(compile(code, str(DOC), "exec"), module.__dict__)  # noqa: S102 - our own documentation
        printed = capsys.readouterr().out.splitlines()
        assert printed == expected_outputs(code)
    assert len(module.__dict__["runs"]) == 6

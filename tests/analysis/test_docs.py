"""The Python examples of docs/analysis.md run against the train/eval store of conftest (same shape)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"


def blocks() -> list[str]:
    text = DOC.read_text()
    return [
        m.group(2) for m in re.finditer(r"```python( [^\n]*)?\n(.*?)```", text, re.DOTALL) if not m.group(1)
    ]


def test_analysis_page_examples_run(sqlite_store, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_store.uri)
    module = types.ModuleType("docs_analysis")  # dataclasses need a real module for their type hints
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    ran = 0
    for code in blocks():
        if "127.0.0.1" in code:  # needs a server of your own
            continue
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
        ran += 1
    assert ran >= 10
    assert len(namespace["runs"]) == 6
    assert namespace["run"].get("metrics.loss") == 0.2
    assert namespace["typed"][0].cfg.model.lr in (0.1, 0.01)
    assert namespace["table"].num_rows == 6
    assert "6" in capsys.readouterr().out

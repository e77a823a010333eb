"""The README's first example, extracted from the README itself and run as a user would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"README has {len(found)} python blocks containing {marker!r}"
    return found[0]


def test_hydra_safe_argv_routes_extended_sweeps_only_in_multirun() -> None:
    from hydraflow.hydra_adapter.argv import hydra_safe_argv

    assert hydra_safe_argv(["lr=1:3"]) == ["lr=1:3"]
    assert hydra_safe_argv(["-m", "seed=1", "lr=1,2"]) == ["-m", "seed=1", "lr=1,2"]
    routed = hydra_safe_argv(["--multirun", "-cn", "lr=1:3", "hydra/launcher=basic", "lr=0.01:0.05:0.01"])
    assert routed == [
        "--multirun",
        "-cn",
        "lr=1:3",
        "++hydra.sweeper={params:{lr:'0.01:0.05:0.01'}}",
        "hydra/launcher=basic",
    ]
    assert hydra_safe_argv(["-m", "--nonsense-flag"]) == ["-m", "--nonsense-flag"]  # Hydra reports it


@pytest.mark.slow
def test_readme_train_example_runs_and_is_analysed(run_python, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(_readme_block("@hydraflow.main(Config)"))
    # the README's command, with the in-process basic launcher to keep the test quick
    proc = run_python(
        "train.py", "-m", "hydra/sweeper=hydraflow", "hydra/launcher=basic", "lr=0.01:0.05:0.01", "width=8,16"
    )
    assert "#9 : lr=0.05 width=16" in proc.stdout + proc.stderr

    (tmp_path / "analyse.py").write_text(_readme_block("iter_run_dirs"))
    out = run_python("analyse.py").stdout
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    assert len(rows) == 5, out  # width=16 only: lr 0.01..0.05
    lrs = sorted(float(r[1]) for r in rows)
    assert lrs == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    assert {r[2] for r in rows} == {"16"}
    assert {r[3] for r in rows} == {"FINISHED"}
    for r in rows:  # loss = (lr - 0.03)^2 + 1/width, logged by the app, read back from the store
        assert float(r[4]) == pytest.approx((float(r[1]) - 0.03) ** 2 + 1 / 16)

"""Damaged and unreadable stores (issue 13): every run skipped or loaded partially is named in a warning.

A copy of the real file store of ``conftest.py`` is damaged the way disks, copies and users damage stores:
a run directory or an experiment nobody may read (``chmod 000``, read by a process without root's
``CAP_DAC_OVERRIDE``: the permission check a non-root user gets), an empty, truncated or alias-bombed
``config.yaml``, a truncated ``meta.yaml``. ``hydraflow runs`` on an experiment that does not exist is an
error, not an empty table.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from hydraflow.analysis import CorruptRunWarning, Run, iter_run_dirs

if TYPE_CHECKING:
    from pathlib import Path

    from tests.analysis.conftest import Store

# root without the capabilities that bypass file permissions: chmod 000 holds for it as for any user
NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def _copy(store: Store, tmp_path: Path) -> Path:
    root = tmp_path / "mlruns"
    shutil.copytree(store.root, root)
    return root


def _runs_cli(*args: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "hydraflow", "runs", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_an_unreadable_run_or_experiment_is_skipped_with_a_warning(file_store: Store, tmp_path: Path) -> None:
    root = _copy(file_store, tmp_path)
    train = sorted(iter_run_dirs("train", tracking_uri=root))
    locked_run = train[0]
    locked_exp = next(iter_run_dirs("eval", tracking_uri=root)).parent
    locked_run.chmod(0)
    locked_exp.chmod(0)
    try:
        out = _runs_cli("--tracking-uri", str(root), prefix=NO_DAC)
    finally:
        locked_run.chmod(0o755)
        locked_exp.chmod(0o755)
    assert out.returncode == 0, out.stderr
    assert "5 runs" in out.stdout  # 6 train runs, one unreadable; eval unreadable
    assert locked_run.name[:8] not in out.stdout
    assert (
        f"skipped run {locked_run}: cannot read {locked_run / 'meta.yaml'}: Permission denied" in out.stderr
    )
    assert f"skipped experiment {locked_exp}: cannot read {locked_exp / 'meta.yaml'}: Permission denied" in (
        out.stderr
    )
    assert "Traceback" not in out.stderr


def test_damaged_files_are_named_and_their_runs_skipped_or_marked(file_store: Store, tmp_path: Path) -> None:
    root = _copy(file_store, tmp_path)
    dirs = sorted(iter_run_dirs("train", tracking_uri=root))
    empty, cut, bomb, deep, cut_meta, good = dirs

    def config(d: Path) -> Path:
        return d / "artifacts" / ".hydra" / "config.yaml"

    config(empty).write_bytes(b"")
    text = config(cut).read_bytes()
    config(cut).write_bytes(text[: len(text) // 2].rstrip(b"\n"))  # a copy cut short
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values
    config(bomb).write_text("\n".join(laughs) + "\n")
    config(deep).write_text("x: " + "[" * 300 + "]" * 300 + "\n")
    meta = (cut_meta / "meta.yaml").read_bytes()
    (cut_meta / "meta.yaml").write_bytes(meta[: meta.index(b"\nstart_time:") + 1])  # cut at a line end

    (good / "metrics" / "loss").write_text("garbage\n")
    (good / "params" / "seed").write_bytes(b"\xff\xfe\n")

    def load() -> tuple[dict[str, str | None], bool]:
        runs = Run.load(iter_run_dirs("train", tracking_uri=root), strict=True)  # damaged runs left out
        has_seed = "seed" in next(r for r in runs if r.run_id == good.name).info.params
        return {r.run_id: r.info.status for r in runs}, has_seed

    with pytest.warns(CorruptRunWarning) as record:
        statuses, has_seed = load()
    messages = "\n".join(str(w.message) for w in record)
    assert sorted(statuses) == sorted([cut_meta.name, good.name]), messages
    assert statuses[cut_meta.name] is None  # loaded, its info marked unknown, and said so
    assert statuses[good.name] is not None
    assert f"{config(empty)} is empty" in messages
    assert f"{config(cut)} is truncated (no final newline)" in messages
    assert f"{config(bomb)} is too large to load: over 1000000 values" in messages
    assert f"{config(deep)} is nested too deep to load" in messages
    assert f"{cut_meta / 'meta.yaml'} is incomplete (no status, start_time)" in messages
    # garbage in a metric or a param file: the value is dropped, and said so
    assert f"metric file {good / 'metrics' / 'loss'}: 1 line(s) are not" in messages
    assert not has_seed
    assert f"ignored {good / 'params' / 'seed'}: 'utf-8' codec can't decode" in messages


def test_runs_of_an_unknown_experiment_is_an_error(sqlite_store: Store) -> None:
    out = _runs_cli("nosuch", "--tracking-uri", sqlite_store.uri)
    assert out.returncode == 2, out.stdout
    assert out.stderr.strip() == "error: no experiment 'nosuch' in the store (its experiments: eval, train)"
    assert out.stdout == ""
    ok = _runs_cli("tr*", "--tracking-uri", sqlite_store.uri)
    assert ok.returncode == 0, ok.stderr
    assert "6 runs of tr*" in ok.stdout

"""Validation works per factor of the sweep, never per job: huge sweeps are validated at once (issue 13)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode

from hydraflow.hydra_adapter.arguments import expand_arguments
from hydraflow.hydra_adapter.errors import SweepError
from hydraflow.hydra_adapter.native import make_native_expander
from hydraflow.hydra_adapter.validate import validate

ROOT = Path(__file__).resolve().parents[2]
TWELVE = [f"+k{i}=0:9" for i in range(12)]  # 10^12 jobs


@pytest.fixture
def loader(hydra_restore_singletons):
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))


def check(loader, *args: str):
    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    sweep = expand_arguments(args, make_native_expander(loader), origin="test")
    return validate(sweep, loader, master)


def test_a_10_to_the_12_job_sweep_is_validated_value_by_value(loader) -> None:
    report = check(loader, *TWELVE, "model=cnn,vit")
    assert report.jobs == 2 * 10**12
    assert report.compositions == 2  # one per model
    assert report.value_checks == 2 * 120  # each of the 120 distinct values, once per model
    assert report.full_jobs == 0


def test_a_bad_value_deep_in_a_huge_sweep_names_its_first_job(loader) -> None:
    # model.patch exists for vit only: the first bad job is the first of model=cnn, number 10^12
    with pytest.raises(SweepError, match=r"job #1000000000000 \[model=cnn \+k0=0 .* model.patch=3\] is inv"):
        check(loader, "model=vit,cnn", *TWELVE, "model.patch=3")


def test_interplay_fallback_composes_only_the_affected_jobs(loader) -> None:
    # extra.k=5 is invalid alone but fine after +extra={k:1}: only the jobs with extra.k are composed in full,
    # enumerated through the factors (10^12 jobs elsewhere are never listed)
    report = check(loader, "+extra={k:1},{k:2}", "extra.k=5,6")
    assert report.jobs == 4
    assert report.full_jobs == 4 + 2  # two first-job confirmations, then the four affected jobs


def test_group_combinations_across_factors_are_each_composed(loader) -> None:
    # a bad value only in the combination model=cnn: caught there, named by its first job
    with pytest.raises(SweepError, match=r"job #2 \[model=cnn seed=0 model.patch=3\] is invalid"):
        check(loader, "model=vit,cnn", "seed=0,1", "model.patch=3")


def test_the_sweeper_validates_a_huge_sweep_before_launching(tmp_path: Path) -> None:
    """A real Hydra app: a bad job in a 4x10^12-job sweep is reported within seconds, nothing launched."""
    app = ROOT / "examples" / "sweeper_app" / "my_app.py"
    sweep_dir = f"hydra.sweep.dir={tmp_path / 'multirun'}"
    argv = [sys.executable, str(app), "-m", "model=vit,cnn", *TWELVE, "model.patch=3,4", sweep_dir]
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "job #2000000000000 [model=cnn +k0=0 +k1=0" in out.stderr
    assert "+k11=0 model.patch=3] is invalid for this app's config" in out.stderr
    assert not (tmp_path / "multirun").exists()

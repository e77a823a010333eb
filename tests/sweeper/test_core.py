"""Sweeper internals in-process: params conversion, command-line precedence, cheap validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode

from hydra_plugins.hydraflow_sweeper.sweeper import HydraflowSweeper
from hydraflow.hydra_adapter.arguments import expand_arguments, merge_arguments, params_to_arguments
from hydraflow.hydra_adapter.errors import SweepError
from hydraflow.hydra_adapter.native import make_native_expander
from hydraflow.hydra_adapter.validate import validate

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------- params, precedence


def test_params_values_are_converted_the_way_hydra_reads_them() -> None:
    params = {
        "lr": "1e-3:1e-2:2e-3",
        "wd": 0.001,
        "epochs": 3,
        "amp": False,
        "tag": None,
        "model": ["cnn", "vit"],
        "layers": [[64, 64], [128]],
        "opt": {"momentum": [0.9, 0.99], "nesterov": True},
    }
    assert params_to_arguments(params) == [
        "lr=1e-3:1e-2:2e-3",
        "wd=0.001",
        "epochs=3",
        "amp=false",
        "tag=null",
        "model=cnn,vit",
        "layers=[64,64],[128]",
        "opt.momentum=0.9,0.99",
        "opt.nesterov=true",
    ]
    assert params_to_arguments(None) == []


@pytest.mark.parametrize("bad", [{"a": []}, {"a": {}}, {"a": object()}])
def test_params_that_cannot_be_swept_are_named(bad) -> None:
    with pytest.raises(SweepError, match=r"hydra\.sweeper\.params\.a"):
        params_to_arguments(bad)


def test_command_line_replaces_params_in_place_per_key() -> None:
    params = ["a=1,2", "lr/m=1,2", "+c=x,y"]
    assert merge_arguments(params, ["lr=0.1", "d=5"]) == ["a=1,2", "lr=0.1", "+c=x,y", "d=5"]
    assert merge_arguments(params, ["c=z"]) == ["a=1,2", "lr/m=1,2", "c=z"]  # prefixes do not matter
    assert merge_arguments(params, ["a=1|c=2"]) == ["a=1|c=2", "lr/m=1,2"]  # one argument, two keys
    assert merge_arguments([], ["x=1,2"]) == ["x=1,2"]


def test_syntax_error_keeps_the_caret_and_names_the_argument() -> None:
    with pytest.raises(SweepError) as info:
        expand_arguments(["a=1,2", "b=(1,2"], None, origin="command line")
    text = str(info.value)
    assert "sweep argument 2 of 2 (command line)" in text
    assert text.endswith("b=(1,2\n  ^")


@pytest.mark.parametrize("size", [0, -2, 1.5, True, "4"])
def test_bad_max_batch_size_is_rejected(size) -> None:
    with pytest.raises(SweepError, match="max_batch_size must be a positive integer, -1 or null"):
        HydraflowSweeper(max_batch_size=size)._batch_size()


@pytest.mark.parametrize(("size", "expected"), [(None, None), (-1, None), (1, 1), (50, 50)])
def test_max_batch_size_values(size, expected) -> None:
    assert HydraflowSweeper(max_batch_size=size)._batch_size() == expected


# ------------------------------------------------------------------------------------------------ validation


@pytest.fixture
def loader(hydra_restore_singletons):
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))


def check(loader, *args: str):
    master = loader.load_configuration("config", overrides=list(args), run_mode=RunMode.MULTIRUN)
    sweep = expand_arguments(args, make_native_expander(loader), origin="test")
    return validate(sweep, loader, master)


def test_200_jobs_need_one_composition_per_group_combination(loader) -> None:
    report = check(loader, "lr=1:20", "wd=0.1,0.2,0.3,0.4,0.5", "model=cnn,vit", "+note=x")
    assert report.jobs == 200
    assert report.compositions == 2  # model=cnn, model=vit (with the shared +note=x)
    assert report.value_checks == 2 * (20 + 5)  # each distinct lr / wd value, once per model
    assert report.copies == 2  # plain assignments share one scratch copy per model
    assert report.full_jobs == 0


def test_bad_value_for_one_group_names_the_first_bad_job(loader) -> None:
    with pytest.raises(SweepError, match=r"job #2 \[model=cnn model.patch=3\] is invalid"):
        check(loader, "model=vit,cnn", "model.patch=3,4")


def test_unknown_group_option_is_reported(loader) -> None:
    with pytest.raises(SweepError, match=r"job #1 \[model=transformer\] is invalid"):
        check(loader, "model=cnn,transformer")


def test_overrides_that_depend_on_each_other_fall_back_to_full_composition(loader) -> None:
    # extra.k=5 alone is invalid (extra does not exist) but fine after +extra={k:1} in the same job
    report = check(loader, "+extra={k:1},{k:2}", "extra.k=5,6")
    assert report.jobs == 4
    assert report.full_jobs >= 4


def test_a_bad_value_after_good_ones_is_still_caught(loader) -> None:
    # the scratch copy shared by plain assignments must not hide a later bad value
    with pytest.raises(SweepError, match=r"job #0 \[seed=1 model.nokey=5\]"):
        check(loader, "seed=1,2,3", "model.nokey=5,6")


def test_unknown_key_without_plus_is_rejected(loader) -> None:
    with pytest.raises(SweepError, match=r"job #0 \[nokey=1\]"):
        check(loader, "nokey=1,2")


# ---------------------------------------------------------------------------------------------- import cost


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import hydra_plugins.hydraflow_sweeper, hydra_plugins.hydraflow_sweeper.config\n"
        "import hydra_plugins.hydraflow_sweeper.sweeper\n"
        "heavy = ('mlflow', 'submitit', 'pyarrow', 'pandas', 'polars', 'hydraflow.sweep',\n"
        "         'hydraflow.hydra_adapter.validate')\n"
        "print(sorted(h for h in heavy if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr

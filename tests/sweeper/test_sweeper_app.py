"""``hydra/sweeper=hydraflow`` end to end: the example app (examples/sweeper_app) runs as a real subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "examples" / "sweeper_app" / "my_app.py")


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )


def overrides_of(job_dir: Path) -> list[str]:
    return yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())


def job_num(job_dir: Path) -> int:
    return yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["num"]


@pytest.fixture
def app(run_python, tmp_path: Path):
    """Run the example app with ``hydra.sweep.dir`` inside tmp_path; returns (process, sweep dir)."""

    def _run(*args: str, check: bool = True):
        sweep_dir = tmp_path / "sweep"
        proc = run_python(APP, *args, f"hydra.sweep.dir={sweep_dir}", check=check)
        return proc, sweep_dir

    return _run


def test_extended_syntax_on_the_command_line_with_config_groups(app) -> None:
    proc, sweep = app("-m", "lr=1:5:1", "wd/m=1,2", "model=cnn,vit")
    dirs = job_dirs(sweep)
    assert [d.name for d in dirs] == [str(i) for i in range(20)]
    assert overrides_of(dirs[0]) == ["lr=1", "wd=1e-3", "model=cnn"]
    assert overrides_of(dirs[1]) == ["lr=1", "wd=1e-3", "model=vit"]
    assert overrides_of(dirs[19]) == ["lr=5", "wd=2e-3", "model=vit"]
    config = yaml.safe_load((dirs[19] / ".hydra" / "config.yaml").read_text())
    assert config["model"]["name"] == "vit"
    assert config["wd"] == pytest.approx(0.002)
    multirun = yaml.safe_load((sweep / "multirun.yaml").read_text())
    assert multirun["hydra"]["overrides"]["task"] == ["lr=1:5:1", "wd/m=1,2", "model=cnn,vit"]
    assert "job 19: model=vit lr=5 wd=0.002" in proc.stdout


def test_experiment_file_is_a_multirun_without_dash_m(app) -> None:
    _, sweep = app("+experiment=lr_scan")
    dirs = job_dirs(sweep)
    assert len(dirs) == 6
    assert overrides_of(dirs[0]) == ["lr=1e-3", "model=cnn", "+experiment=lr_scan"]
    assert overrides_of(dirs[5]) == ["lr=5e-3", "model=vit", "+experiment=lr_scan"]
    config = yaml.safe_load((dirs[5] / ".hydra" / "config.yaml").read_text())
    assert config["epochs"] == 1  # set by the experiment file
    assert config["lr"] == pytest.approx(0.005)


def test_yaml_params_with_non_string_values_and_batches(app) -> None:
    # grid.yaml: seed: 0:2 (string), wd: [0.0, 0.1] (YAML list), model: (cnn,vit); max_batch_size: 4
    proc, sweep = app("+experiment=grid", "hydra.sweeper.dry_run=true")
    lines = proc.stdout.splitlines()
    assert "Dry run: 12 jobs in 3 batches, nothing launched" in lines
    assert "#0 seed=0 wd=0.0 model=cnn +experiment=grid" in lines
    assert "#11 seed=2 wd=0.1 model=vit +experiment=grid" in lines
    assert not sweep.exists()


def test_command_line_wins_over_yaml_params_per_key(app) -> None:
    # lr_scan.yaml sweeps lr/m=1,2,5 and model=cnn,vit: the command line replaces both keys
    _, sweep = app("+experiment=lr_scan", "model=vit", "lr=0.5,0.25")
    dirs = job_dirs(sweep)
    assert [overrides_of(d) for d in dirs] == [
        ["lr=0.5", "model=vit", "+experiment=lr_scan"],
        ["lr=0.25", "model=vit", "+experiment=lr_scan"],
    ]


def test_max_batch_size_batches_with_continuing_job_numbers(app) -> None:
    proc, sweep = app("-m", "seed=1:5", "hydra.sweeper.max_batch_size=2")
    dirs = job_dirs(sweep)
    assert [job_num(d) for d in dirs] == [0, 1, 2, 3, 4]
    assert [overrides_of(d) for d in dirs] == [[f"seed={i}"] for i in range(1, 6)]
    assert proc.stdout.count("Launching 2 jobs") == 2
    assert proc.stdout.count("Launching 1 jobs") == 1
    assert "#4 : seed=5" in proc.stdout


def test_dry_run_prints_jobs_and_creates_nothing(app) -> None:
    proc, sweep = app(
        "-m", "lr=1:3", "model=cnn,vit", "hydra.sweeper.dry_run=true", "hydra.sweeper.max_batch_size=4"
    )
    lines = proc.stdout.splitlines()
    assert "Dry run: 6 jobs in 2 batches, nothing launched" in lines
    assert "#0 lr=1 model=cnn" in lines
    assert "#5 lr=3 model=vit" in lines
    assert "job 0:" not in proc.stdout
    assert not sweep.exists()


def test_hydra_native_functions_go_through_hydra(app) -> None:
    proc, sweep = app("-m", "model=glob(*)", "lr=range(1,3)", "hydra.sweeper.dry_run=true")
    assert "#0 model=cnn lr=1" in proc.stdout
    assert "#3 model=vit lr=2" in proc.stdout
    assert not sweep.exists()


def test_syntax_error_exits_nonzero_with_caret_and_no_job_dirs(app) -> None:
    proc, sweep = app("-m", "model=cnn,vit", "lr=5:3", check=False)
    assert proc.returncode != 0
    assert "empty range" in proc.stderr
    assert "lr=5:3\n   ^" in proc.stderr
    assert "sweep argument 2 of 2" in proc.stderr
    assert not sweep.exists()


def test_empty_glob_is_a_clean_error(app) -> None:
    proc, sweep = app("-m", "model=glob(nothing*)", check=False)
    assert proc.returncode != 0
    assert "expands to no values" in proc.stderr
    assert not sweep.exists()


def test_job_invalid_for_the_config_fails_before_any_job_runs(app) -> None:
    # model=cnn has no "patch" key: job #2 is invalid; jobs #0 and #1 (vit) must not run either,
    # even with one job per batch.
    proc, sweep = app("-m", "model=vit,cnn", "model.patch=3,4", "hydra.sweeper.max_batch_size=1", check=False)
    assert proc.returncode != 0
    assert "job #2 [model=cnn model.patch=3]" in proc.stderr
    assert "Could not override 'model.patch'" in proc.stderr
    assert "job 0:" not in proc.stdout
    assert not sweep.exists()


def test_parentheses_need_yaml_or_are_rejected_by_hydra_on_the_command_line(app) -> None:
    # Hydra parses command-line overrides before the sweeper: "(" starts a function call there.
    proc, _ = app("-m", "model=(cnn,vit)", check=False)
    assert proc.returncode != 0
    assert "Error parsing override 'model=(cnn,vit)'" in proc.stderr
    # Quoted, Hydra keeps the value as one literal string: one job with a quoted value (no expansion).
    proc, _ = app("-m", 'seed="(1,2)"', "hydra.sweeper.dry_run=true")
    assert "Dry run: 1 job in 1 batch" in proc.stdout
    # Through hydra.sweeper.params Hydra only unquotes the value: the sweeper gets the parentheses raw.
    proc, _ = app("-m", '++hydra.sweeper.params.model="(cnn,vit)"', "seed=1,2", "hydra.sweeper.dry_run=true")
    assert proc.stdout.splitlines()[-4:] == [
        "#0 model=cnn seed=1",
        "#1 model=cnn seed=2",
        "#2 model=vit seed=1",
        "#3 model=vit seed=2",
    ]


TYPED_APP = """
from dataclasses import dataclass
import hydra
from hydra.core.config_store import ConfigStore

@dataclass
class Cfg:
    lr: float = 0.1

ConfigStore.instance().store(name="cfg", node=Cfg)

@hydra.main(version_base="1.3", config_path=None, config_name="cfg")
def main(cfg):
    print("lr", cfg.lr)

if __name__ == "__main__":
    main()
"""


def test_structured_config_types_and_the_params_route(run_python, tmp_path: Path) -> None:
    app = tmp_path / "typed_app.py"
    app.write_text(TYPED_APP)
    sweep = f"hydra.sweep.dir={tmp_path / 'sweep'}"
    # a value of the wrong type is caught by validation, naming the job and the reason
    proc = run_python(str(app), "-m", "hydra/sweeper=hydraflow", "lr=abc,1", sweep, check=False)
    assert proc.returncode != 0
    assert "job #0 [lr=abc] is invalid" in proc.stderr
    assert "could not be converted to Float" in proc.stderr
    assert not (tmp_path / "sweep").exists()
    # without a top-level comma Hydra itself applies 'lr=1:3' to the float field first and refuses it;
    # through hydra.sweeper.params the text reaches the sweeper raw
    proc = run_python(str(app), "-m", "hydra/sweeper=hydraflow", "lr=1:3", sweep, check=False)
    assert proc.returncode != 0
    assert "could not be converted to Float" in proc.stderr
    proc = run_python(str(app), "-m", "hydra/sweeper=hydraflow", "+hydra.sweeper.params.lr=1:3", sweep)
    assert [line for line in proc.stdout.splitlines() if line.startswith("lr ")] == [
        "lr 1.0",
        "lr 2.0",
        "lr 3.0",
    ]

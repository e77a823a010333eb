"""The job files shown in the docs work with every launcher (issue 13: `--submit` met a local-only setting).

Each ``run`` set of each documented ``hydraflow.yaml`` is planned for the local, SLURM and PBS launchers and
its exact multirun command is run against a small real Hydra app with the sweeper's dry run: Hydra composes
the app's config with the launcher's structured config and every ``add`` setting (where
``Key 'n_jobs' not in 'SlurmLauncherConf'`` came from) and the sweeper validates every job, submitting nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hydraflow.jobs import LAUNCHERS, parse_job_file, plan
from hydraflow.jobs.runner import run_argv
from hydraflow.sweep import expand

DOCS = Path(__file__).resolve().parents[2] / "docs"

APP = """\
import hydra


@hydra.main(config_path="conf", config_name="config", version_base=None)
def main(cfg):
    print(cfg)


if __name__ == "__main__":
    main()
"""


def documented_job_files() -> dict[str, str]:
    files = {}
    text = (DOCS / "getting-started.md").read_text()
    files["getting-started.md"] = re.search(r'```yaml title="hydraflow.yaml"\n(.*?)```', text, re.DOTALL)[1]  # type: ignore[index]
    text = (DOCS / "cli.md").read_text()
    files["cli.md"] = re.search(r"\$ cat hydraflow.yaml\n(.*?)\$ hydraflow", text, re.DOTALL)[1]  # type: ignore[index]
    text = (DOCS / "job-configuration.md").read_text().split("## A complete example", 1)[1]
    files["job-configuration.md"] = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)[1]  # type: ignore[index]
    return files


def write_app(directory: Path, overrides: list[str]) -> None:
    """``train.py`` with a config holding every key the sweep sets (null), so that Hydra accepts them."""
    config: dict[str, object] = {}
    for job in expand(overrides):
        for override in job:
            node = config
            *parents, leaf = override.split("=", 1)[0].lstrip("+~").split(".")
            for part in parents:
                node = node.setdefault(part, {})  # type: ignore[assignment]
            node.setdefault(leaf, None)
    (directory / "conf").mkdir(exist_ok=True)
    (directory / "conf" / "config.yaml").write_text(yaml.safe_dump(config))
    (directory / "train.py").write_text(APP)


CASES = [
    (page, launcher)
    for page in ("getting-started.md", "cli.md", "job-configuration.md")
    for launcher in LAUNCHERS
]


@pytest.mark.slow
@pytest.mark.parametrize(("page", "launcher"), CASES)
def test_documented_job_file_works_with_every_launcher(tmp_path: Path, page: str, launcher: str) -> None:
    job_file = parse_job_file(documented_job_files()[page], tmp_path / "hydraflow.yaml")
    steps = [
        step
        for job, job_steps in plan(job_file, launcher=launcher)
        if job.kind == "run"
        for step in job_steps
    ]
    assert steps, page
    for step in steps:
        write_app(tmp_path, step.overrides)
        argv = [sys.executable, "train.py", *step.argv[2:], "hydra.sweeper.dry_run=true"]
        out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, f"{page} with {launcher}, set {step.index}:\n{out.stderr[-3000:]}"
        assert f"Dry run: {step.count} job" in out.stdout, out.stdout[-2000:]
        assert not (tmp_path / "multirun").exists()  # a dry run submits and writes nothing


def test_the_old_example_fails_as_the_issue_says(tmp_path: Path) -> None:
    """The check above is able to fail: the setting the docs used to show breaks ``--submit``.

    ``plan`` now refuses it before anything runs (tests/jobs/test_runner_faults.py); the command it would have
    run is built here directly, to show that Hydra itself fails on it.
    """
    old = "jobs:\n  train:\n    run: python train.py\n    add: hydra.launcher.n_jobs=2\n    sets:\n      - each: x=1,2\n"
    job_file = parse_job_file(old, tmp_path / "hydraflow.yaml")
    job = job_file["train"]
    (job_set,) = job.sets
    step_argv = run_argv(job, job_set, 1, job.merged_add(job_set), launcher="slurm", stamp="now")
    write_app(tmp_path, job_set.overrides)
    argv = [sys.executable, "train.py", *step_argv[2:], "hydra.sweeper.dry_run=true"]
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0
    assert "Key 'n_jobs' not in 'SlurmConfig'" in out.stderr

"""Hydra's stock launcher test suites, run against ``hydra/launcher=hydraflow_slurm`` on the real cluster."""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning"),
]

FAST = ["hydra.launcher.poll_interval_s=0.25", "hydra.launcher.timeout_min=5", "hydra.launcher.progress=log"]


@pytest.mark.parametrize(("launcher_name", "overrides"), [("hydraflow_slurm", FAST)])
class TestHydraflowSlurmLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [({}, ["-m", "hydra/launcher=hydraflow_slurm", *FAST])],
)
class TestHydraflowSlurmIntegration(IntegrationTestSuite):
    pass


PACKED = [*FAST, "hydra.launcher.jobs_per_task=2", "hydra.launcher.cpus_per_task=2"]


@pytest.mark.parametrize(("launcher_name", "overrides"), [("hydraflow_slurm", PACKED)])
class TestHydraflowSlurmLauncherPacked(LauncherTestSuite):
    """The same suites with two jobs per array task (docs/many-short-jobs.md)."""


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [({}, ["-m", "hydra/launcher=hydraflow_slurm", *PACKED])],
)
class TestHydraflowSlurmIntegrationPacked(IntegrationTestSuite):
    """The integration suite with two jobs per array task."""

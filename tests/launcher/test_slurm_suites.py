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

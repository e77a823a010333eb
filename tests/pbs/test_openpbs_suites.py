"""Hydra's stock launcher test suites on ``hydra/launcher=hydraflow_pbs`` (dialect pbspro), real OpenPBS server."""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)

pytestmark = [
    pytest.mark.pbs,
    pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning"),
]

FAST = ["hydra.launcher.poll_interval_s=0.25", "hydra.launcher.timeout_min=5", "hydra.launcher.progress=log"]


@pytest.mark.parametrize(("launcher_name", "overrides"), [("hydraflow_pbs", FAST)])
class TestHydraflowPBSLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    ("launcher_name", "overrides"), [("hydraflow_pbs", [*FAST, "hydra.sweeper.max_batch_size=2"])]
)
class TestHydraflowPBSBatched(BatchedSweeperTestSuite):
    pass


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [({}, ["-m", "hydra/launcher=hydraflow_pbs", *FAST])],
)
class TestHydraflowPBSIntegration(IntegrationTestSuite):
    pass

"""Hydra's stock launcher/sweeper suites with ``hydra/sweeper=hydraflow`` (basic launcher unless named)."""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)

# The stock suites run apps without version_base: Hydra 1.1 semantics (chdir) and its deprecation warning.
pytestmark = pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning")


@pytest.mark.parametrize(("launcher_name", "overrides"), [("basic", ["hydra/sweeper=hydraflow"])])
class TestHydraflowSweeperBasicLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    ("launcher_name", "overrides"),
    [("basic", ["hydra/sweeper=hydraflow", "hydra.sweeper.max_batch_size=2"])],
)
class TestHydraflowSweeperBatched(BatchedSweeperTestSuite):
    pass


@pytest.mark.parametrize(("task_launcher_cfg", "extra_flags"), [({}, ["-m", "hydra/sweeper=hydraflow"])])
class TestHydraflowSweeperIntegration(IntegrationTestSuite):
    pass

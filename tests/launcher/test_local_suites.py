"""Hydra's stock launcher test suites, run against ``hydra/launcher=hydraflow_local``."""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)

# The stock suites run apps without version_base: Hydra 1.1 semantics (chdir) and its deprecation warning.
pytestmark = pytest.mark.filterwarnings("ignore:Future Hydra versions will no longer change:UserWarning")


@pytest.mark.parametrize(("launcher_name", "overrides"), [("hydraflow_local", ["hydra.launcher.n_jobs=2"])])
class TestHydraflowLocalLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    ("launcher_name", "overrides"),
    [("hydraflow_local", ["hydra.sweeper.max_batch_size=2", "hydra.launcher.n_jobs=2"])],
)
class TestHydraflowLocalBatched(BatchedSweeperTestSuite):
    pass


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [({}, ["-m", "hydra/launcher=hydraflow_local", "hydra.launcher.n_jobs=2"])],
)
class TestHydraflowLocalIntegration(IntegrationTestSuite):
    pass

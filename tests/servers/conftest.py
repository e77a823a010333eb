"""Loads the MLflow-server fixtures of ``tests/_servers.py`` as the plugin ``hydraflow_test_servers``.

The same four lines in ``tests/conftest.py`` make them visible to every test; this loader then does nothing
(the plugin is registered once, by name). Test modules may ``import hydraflow_test_servers`` for its helpers
(``pg_query``, ``pg_uri``, ``start_mlflow_server``) once the plugin is loaded.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

PLUGIN = "hydraflow_test_servers"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.get_plugin(PLUGIN) is None:
        spec = importlib.util.spec_from_file_location(
            PLUGIN, Path(__file__).resolve().parents[1] / "_servers.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = sys.modules[PLUGIN] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        config.pluginmanager.register(module, PLUGIN)

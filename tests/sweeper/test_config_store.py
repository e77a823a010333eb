"""The plugins' configs in Hydra's ConfigStore: registered by name at the plugin scan, built on first load.

Checked against Hydra itself: what Hydra loads is what ``ConfigStore.store`` of the dataclass stores, the
dataclasses are not imported by the plugin scan, Hydra still type-checks the fields, and the store survives
the pickling that submitit does with Hydra's singletons.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest
from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from omegaconf import OmegaConf

from hydra_plugins.hydraflow_sweeper._conf import HydraflowSweeperConf
from hydraflow.hydra_adapter.config_store import LazyConfigNode, store_lazily
from hydraflow.launch.config import LocalConfig, PBSConfig, SlurmConfig

ROOT = Path(__file__).resolve().parents[2]

REGISTERED = [
    ("hydra/launcher/hydraflow_local.yaml", LocalConfig),
    ("hydra/launcher/hydraflow_slurm.yaml", SlurmConfig),
    ("hydra/launcher/hydraflow_pbs.yaml", PBSConfig),
    ("hydra/sweeper/hydraflow.yaml", HydraflowSweeperConf),
]


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize(("path", "schema"), REGISTERED)
def test_hydra_loads_what_an_eager_store_would_have_stored(path: str, schema: type) -> None:
    import hydra_plugins.hydraflow_launcher.config
    import hydra_plugins.hydraflow_sweeper.config  # noqa: F401 - registers the configs

    loaded = ConfigStore.instance().load(path)
    assert isinstance(loaded, LazyConfigNode)
    eager = OmegaConf.structured(schema)
    assert OmegaConf.to_yaml(loaded.node) == OmegaConf.to_yaml(eager)
    assert OmegaConf.get_type(loaded.node) is schema
    assert (loaded.name, loaded.group, loaded.package, loaded.provider) == (
        path.rsplit("/", 1)[1],
        path.rsplit("/", 1)[0],
        None,
        "hydraflow",
    )


def test_each_load_is_a_copy_built_once() -> None:
    calls: list[int] = []

    def schema() -> type:
        calls.append(1)
        return LocalConfig

    store = ConfigStore.instance()
    store_lazily(group="test_hydraflow/lazy", name="once", schema=schema, provider="tests")
    try:
        assert calls == []
        assert "once.yaml" in store.list("test_hydraflow/lazy")
        first = store.load("test_hydraflow/lazy/once.yaml").node
        first.n_jobs = 7  # a load is the caller's to change
        second = store.load("test_hydraflow/lazy/once.yaml").node
        assert second.n_jobs is None
        assert first is not second
        assert calls == [1]
    finally:
        del store.repo["test_hydraflow"]


def test_the_store_survives_pickling_as_hydra_singletons_do() -> None:
    import hydra_plugins.hydraflow_launcher.config  # noqa: F401

    state = pickle.loads(cloudpickle.dumps(Singleton.get_state()))  # noqa: S301 - what submitit ships to a job
    node = state["instances"][ConfigStore].repo["hydra"]["launcher"]["hydraflow_slurm.yaml"]
    assert isinstance(node, LazyConfigNode)
    assert OmegaConf.to_yaml(node.node) == OmegaConf.to_yaml(OmegaConf.structured(SlurmConfig))


def test_the_plugin_scan_imports_no_dataclass_module() -> None:
    out = _run(
        """
        import json, sys
        from hydra.core.plugins import Plugins
        from hydra.core.config_store import ConfigStore
        Plugins.instance()  # the scan Hydra runs at every start
        names = ConfigStore.instance().list("hydra/launcher") + ConfigStore.instance().list("hydra/sweeper")
        lazy = ("hydraflow.launch.config", "hydra_plugins.hydraflow_sweeper._conf")
        print(json.dumps({"names": names, "imported": [m for m in lazy if m in sys.modules]}))
        """
    )
    seen = json.loads(out)
    assert seen["imported"] == []
    assert {"hydraflow_local.yaml", "hydraflow_slurm.yaml", "hydraflow_pbs.yaml", "hydraflow.yaml"} <= set(
        seen["names"]
    )


def test_hydra_still_type_checks_the_fields(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """
            import hydra

            @hydra.main(version_base=None, config_path=None)
            def main(cfg):
                print("job ran")

            if __name__ == "__main__":
                main()
            """
        )
    )
    for choice, setting, message in (
        (
            "hydra/launcher=hydraflow_local",
            "hydra.launcher.n_jobs=abc",
            "Value 'abc' of type 'str' could not",
        ),
        ("hydra/sweeper=hydraflow", "hydra.sweeper.dry_run=maybe", "Value 'maybe' is not a valid bool"),
    ):
        bad = subprocess.run(
            [sys.executable, str(app), choice, setting],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert bad.returncode == 1, (setting, bad.stderr)
        assert message in bad.stderr
        assert "job ran" not in bad.stdout

"""Fixtures of the tracking tests: a real Hydra app run as a subprocess against a fresh, real MLflow store.

``tracking_store`` gives a fresh store in ``tmp_path`` (sqlite by default; ``file`` and ``server`` variants via
indirect parametrisation) and helpers to run the app and read back what happened. The ``server`` variant uses
the shared ``mlflow_server`` fixture of tests/_servers.py with proxied artifacts (``mlflow-artifacts:/`` URIs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

APP = textwrap.dedent(
    '''
    """Test app: decorator flags and behaviour are driven by environment variables."""
    import json
    import os
    from dataclasses import dataclass, field
    from pathlib import Path

    import hydraflow


    @dataclass
    class Model:
        depth: int = 2
        width: float = float(os.environ.get("HF_WIDTH", "0.5"))


    @dataclass
    class Config:
        model: Model = field(default_factory=Model)
        seed: int = 0
        note: str = "x"
        target_id: str = "${hydraflow.id:model,seed}"


    def flag(name):
        return os.environ.get(name, "") == "1"


    @hydraflow.main(
        Config,
        tracking_uri=os.environ.get("HF_URI") or None,
        force_new_run=flag("HF_FORCE"),
        match_overrides=flag("HF_MATCH"),
        rerun_finished=flag("HF_RERUN"),
        chdir=flag("HF_CHDIR"),
    )
    def app(run, cfg):
        record = {"run_id": run.info.run_id, "seed": cfg.seed, "pid": os.getpid(), "cwd": os.getcwd()}
        with open(os.environ["HF_SIDE"], "a") as f:
            f.write(json.dumps(record) + "\\n")
        if str(cfg.seed) in os.environ.get("HF_FAIL", "").split(","):
            raise RuntimeError(f"failing on purpose for seed {cfg.seed}")
        if flag("HF_CHDIR"):
            Path("made_in_cwd.txt").write_text("hello")
        return cfg.seed * 10


    if __name__ == "__main__":
        import sys

        argv = list(sys.argv)
        app()
        if os.environ.get("HF_AFTER"):  # what the app leaves behind in its own process
            after = {"argv_kept": sys.argv == argv, "dry_env": os.environ.get("HYDRAFLOW_DRY_RUN")}
            Path(os.environ["HF_AFTER"]).write_text(json.dumps(after))
    '''
)

CALLBACK = textwrap.dedent(
    """
    import json, os
    from hydra.experimental.callback import Callback

    class Returns(Callback):
        def on_job_end(self, config, job_return, **kwargs):
            with open(os.environ["HF_RETURNS"], "a") as f:
                f.write(json.dumps({"seed": config.seed, "value": job_return.return_value,
                                    "status": job_return.status.name}) + "\\n")
    """
)

RETURNS_CALLBACK = "+hydra.callbacks.ret._target_=hfcb.Returns"


@dataclass
class Store:
    """A fresh tracking store in ``root`` plus the test app; ``uri`` is what the app is given."""

    root: Path
    uri: str
    kind: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def side(self) -> Path:
        return self.root / "side.jsonl"

    @property
    def returns_file(self) -> Path:
        return self.root / "returns.jsonl"

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "HYDRA_FULL_ERROR": "1",
            "HF_SIDE": str(self.side),
            "HF_RETURNS": str(self.returns_file),
            "HF_URI": self.uri,
            **self.env,
            **(env or {}),
        }
        proc = subprocess.run(
            [sys.executable, "app.py", *args],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"app.py {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def calls(self) -> list[dict[str, Any]]:
        if not self.side.exists():
            return []
        return [json.loads(line) for line in self.side.read_text().splitlines()]

    def returns(self) -> list[dict[str, Any]]:
        if not self.returns_file.exists():
            return []
        return [json.loads(line) for line in self.returns_file.read_text().splitlines()]

    def client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.uri)

    def runs(self, experiment: str = "app", *, all_runs: bool = False) -> list[Any]:
        from mlflow.entities import ViewType

        client = self.client()
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            return []
        view = ViewType.ALL if all_runs else ViewType.ACTIVE_ONLY
        return list(client.search_runs([exp.experiment_id], run_view_type=view, max_results=10000))


def make_store(root: Path, kind: str, server_uri: str | None = None) -> Store:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP)
    (root / "hfcb.py").write_text(CALLBACK)
    env: dict[str, str] = {}
    if kind == "sqlite":
        uri = f"sqlite:///{root / 'mlflow.db'}"
    elif kind == "file":
        uri = (root / "mlruns").as_uri()
        env["MLFLOW_ALLOW_FILE_STORE"] = "true"
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # for the in-test MlflowClient
    elif kind == "server":
        assert server_uri is not None
        uri = server_uri
    else:  # pragma: no cover
        raise ValueError(kind)
    return Store(root=root, uri=uri, kind=kind, env=env)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the ``server`` store declare their server, so it boots while the other tests run."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("tracking_store") == "server":
            item.add_marker(pytest.mark.mlflow_server(artifacts="proxied"))


@pytest.fixture
def tracking_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh tracking store in ``tmp_path`` with the test app; ``sqlite`` unless parametrised indirectly."""
    kind = getattr(request, "param", "sqlite")
    server_uri = (
        request.getfixturevalue("mlflow_server")(artifacts="proxied").url if kind == "server" else None
    )
    return make_store(tmp_path / "work", kind, server_uri)

"""``hydra/sweeper=hydraflow``: expand the extended sweep syntax, validate every job, launch in batches.

Only Hydra's plugin interfaces are imported here; the grammar (:mod:`hydraflow.sweep`) and the validation code
(:mod:`._core`) are imported when :meth:`HydraflowSweeper.sweep` runs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.plugins.sweeper import Sweeper

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hydra.core.utils import JobReturn
    from hydra.plugins.launcher import Launcher
    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

log = logging.getLogger(__name__)


class HydraflowSweeper(Sweeper):
    """Sweeper for the extended syntax (``lr=1e-3:1e-2:x2``, ``model=(cnn,vit)_(s,l)``, ``a=1,2|b=3`` ...).

    Arguments come from ``hydra.sweeper.params`` (raw strings in YAML, e.g. from a ``+experiment=...`` file)
    and from the command line, which wins per key. Every job is validated before the first launch; jobs go
    to the launcher in batches of ``max_batch_size`` with job numbers continuing across batches.
    """

    def __init__(
        self,
        max_batch_size: int | None = None,
        params: Mapping[str, Any] | None = None,
        dry_run: bool = False,
        validate: bool = True,
    ) -> None:
        """Store the settings of ``hydra.sweeper`` (see :class:`.config.HydraflowSweeperConf`)."""
        super().__init__()
        self.max_batch_size = max_batch_size
        self.params = params
        self.dry_run = dry_run
        self.validate = validate
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Keep Hydra's context and instantiate the configured launcher."""
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        """Expand ``hydra.sweeper.params`` + ``arguments``, validate every job, launch them batch by batch."""
        from omegaconf import DictConfig, OmegaConf

        from hydra_plugins.hydraflow_sweeper import _core
        from hydraflow.hydra_native import make_native_expander

        assert self.config is not None  # noqa: S101 - set by setup()
        assert self.launcher is not None  # noqa: S101
        assert self.hydra_context is not None  # noqa: S101
        batch_size = self._batch_size(_core.SweepError)
        params = self.params
        if isinstance(params, DictConfig):
            params = OmegaConf.to_container(params, resolve=True)  # type: ignore[assignment]
        native = make_native_expander(self.hydra_context.config_loader)
        params_args = _core.params_to_arguments(params)
        args = _core.merge_arguments(params_args, arguments, native)
        origin = "hydra.sweeper.params + command line" if params_args else "command line"
        jobs = _core.expand_arguments(args, native, origin=origin)
        count = jobs.count
        if count == 0:
            log.warning("The sweep %s expands to no jobs: nothing to launch.", " ".join(args))
            return []
        if self.validate:
            report = _core.validate(jobs, self.hydra_context.config_loader, self.config)
            log.debug(
                "Validated %d jobs in %.3f s: %d distinct overrides, %d compositions, %d value checks "
                "(%d config copies), %d jobs composed in full",
                report.jobs,
                report.seconds,
                report.distinct_overrides,
                report.compositions,
                report.value_checks,
                report.copies,
                report.full_jobs,
            )
        if self.dry_run:
            self._print_dry_run(jobs, count, batch_size)
            return []

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        returns: list[Sequence[JobReturn]] = []
        initial_job_idx = 0
        for batch in jobs.batches(batch_size):
            results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
            for result in results:
                _ = result.return_value  # raises if the job failed, as BasicSweeper does
            initial_job_idx += len(batch)
            returns.append(results)
        return returns

    def _batch_size(self, error: type[Exception]) -> int | None:
        size = self.max_batch_size
        if size is None or size == -1:
            return None
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise error(f"hydra.sweeper.max_batch_size must be a positive integer, -1 or null; got {size!r}")
        return size

    @staticmethod
    def _print_dry_run(jobs: Any, count: int, batch_size: int | None) -> None:
        import shlex

        batches = 1 if batch_size is None else -(-count // batch_size)
        noun = "job" if count == 1 else "jobs"
        out = sys.stdout
        plural = "es" if batches != 1 else ""
        out.write(f"Dry run: {count} {noun} in {batches} batch{plural}, nothing launched\n")
        for n, overrides in enumerate(jobs):
            out.write(f"#{n} {shlex.join(overrides)}\n")
        out.flush()

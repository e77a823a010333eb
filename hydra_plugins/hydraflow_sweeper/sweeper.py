"""``hydra/sweeper=hydraflow``: expand the extended sweep syntax, validate every job, launch in batches.

Only Hydra's plugin interfaces are imported here; the work is done by :mod:`hydraflow.hydra_adapter`
(arguments, expansion, validation), imported when :meth:`HydraflowSweeper.sweep` runs.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from hydra.plugins.sweeper import Sweeper

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hydra.core.utils import JobReturn
    from hydra.plugins.launcher import Launcher
    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

    from hydraflow.sweep import Sweep

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
        """Store the settings of ``hydra.sweeper`` (see :class:`._conf.HydraflowSweeperConf`)."""
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
        from omegaconf import OmegaConf

        from hydraflow.hydra_adapter import arguments as args_
        from hydraflow.hydra_adapter.native import make_native_expander
        from hydraflow.hydra_adapter.sweep_dir import SweepDir
        from hydraflow.hydra_adapter.validate import validate

        assert self.config is not None  # noqa: S101 - set by setup()
        assert self.launcher is not None  # noqa: S101
        assert self.hydra_context is not None  # noqa: S101
        batch_size = self._batch_size()
        params = self.params
        if OmegaConf.is_config(params):
            params = OmegaConf.to_container(params, resolve=True)  # type: ignore[assignment]
        native = make_native_expander(self.hydra_context.config_loader)
        params_args = args_.params_to_arguments(params)
        merged = args_.merge_arguments(params_args, arguments, native)
        origin = "hydra.sweeper.params + command line" if params_args else "command line"
        jobs = args_.expand_arguments(merged, native, origin=origin)  # never empty: a sweep has >= 1 job
        if self.validate:
            report = validate(jobs, self.hydra_context.config_loader, self.config)
            log.debug("Validated %d jobs in %.3f s: %s", report.jobs, report.seconds, report)
        if self.dry_run:
            self._print_dry_run(jobs, batch_size)
            return []

        sweep_dir = SweepDir(self.config.hydra.sweep.dir)
        sweep_dir.create(self.config)

        returns: list[Sequence[JobReturn]] = []
        initial_job_idx = 0
        for batch in jobs.batches(batch_size):
            try:
                results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
            except BaseException:
                # a first batch that failed before anything ran (a refused job array): no empty sweep left
                if initial_job_idx == 0 and sweep_dir.discard_if_untouched():
                    log.info("Nothing ran: removed the sweep directory %s", sweep_dir.path)
                raise
            for result in results:
                _ = result.return_value  # raises if the job failed, as BasicSweeper does
            initial_job_idx += len(batch)
            returns.append(results)
        return returns

    def _batch_size(self) -> int | None:
        from hydraflow.hydra_adapter.errors import SweepError

        size = self.max_batch_size
        if size is None or size == -1:
            return None
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise SweepError(
                f"hydra.sweeper.max_batch_size must be a positive integer, -1 or null; got {size!r}"
            )
        return size

    @staticmethod
    def _print_dry_run(jobs: Sweep, batch_size: int | None) -> None:
        import shlex

        count = jobs.count
        batches = 1 if batch_size is None else -(-count // batch_size)
        jobs_s, batches_s = "" if count == 1 else "s", "" if batches == 1 else "es"
        out = sys.stdout
        out.write(f"Dry run: {count} job{jobs_s} in {batches} batch{batches_s}, nothing launched\n")
        for n, overrides in enumerate(jobs):
            out.write(f"#{n} {shlex.join(overrides)}\n")
        out.flush()

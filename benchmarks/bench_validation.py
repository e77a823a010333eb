"""Pre-launch cost of a 200-job sweep: ``hydra/sweeper=hydraflow`` vs Hydra's BasicSweeper.

Both sweepers run their real ``sweep()`` against the example app's config (``conf/``) with a no-op launcher
that records the moment of the first ``launch()`` call: the time measured is *time to first launch*
(parse + expand + validate + multirun.yaml). BasicSweeper validates by composing every job's config
(``validate_batch_is_legal``); hydraflow validates each distinct override once per config-group combination.

    python benchmarks/bench_validation.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

LR = ",".join(str(i) for i in range(1, 21))  # 20 values
SWEEPS = {
    "lr(20) x wd(5) x model(2)": [f"lr={LR}", "wd=0.1,0.2,0.3,0.4,0.5", "model=cnn,vit"],
    "lr(20) x wd(10), one model": [f"lr={LR}", "wd=0,1,2,3,4,5,6,7,8,9"],
    # +experiment=lr_scan is a constant config-group override of every job (its params are not used here:
    # both sweepers are constructed directly, without hydra.sweeper.params)
    "seed(100) x model(2) + experiment": [
        "+experiment=lr_scan",
        "seed=" + ",".join(map(str, range(100))),
        "model=cnn,vit",
    ],
}


class FirstLaunch:
    """A launcher that launches nothing and remembers when it was first asked to."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.jobs = 0

    def launch(self, job_overrides: Any, initial_job_idx: int) -> list[Any]:
        if initial_job_idx != self.jobs:
            raise RuntimeError(f"job numbers do not continue: {initial_job_idx} after {self.jobs} jobs")
        if self.first is None:
            self.first = time.perf_counter()
        self.jobs += len(job_overrides)
        return []


def time_to_first_launch(kind: str, args: list[str], workdir: Path) -> tuple[float, int]:
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import HydraContext, RunMode

    from hydra_plugins.hydraflow_sweeper.sweeper import HydraflowSweeper

    GlobalHydra.instance().clear()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))
    overrides = [*args, f"hydra.sweep.dir={workdir}", f"hydra/sweeper={kind}"]
    master = loader.load_configuration("config", overrides=overrides, run_mode=RunMode.MULTIRUN)
    task_args = list(master.hydra.overrides.task)
    sweeper: Any = BasicSweeper(max_batch_size=None) if kind == "basic" else HydraflowSweeper()
    launcher = FirstLaunch()
    sweeper.hydra_context = HydraContext(config_loader=loader, callbacks=None)  # type: ignore[arg-type]
    sweeper.config = master
    sweeper.launcher = launcher
    tic = time.perf_counter()
    sweeper.sweep(arguments=task_args)
    if launcher.first is None:
        raise RuntimeError(f"{kind}: nothing was launched")
    return launcher.first - tic, launcher.jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the hydraflow cells (median)")
    parser.add_argument("--basic-runs", type=int, default=1, help="repetitions of the BasicSweeper cells")
    args = parser.parse_args()
    from hydra.core.plugins import Plugins

    Plugins.instance()  # plugin scan outside the timings
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, sweep in SWEEPS.items():
            cells = {}
            for kind in ("basic", "hydraflow"):
                samples = []
                jobs = 0
                for i in range(args.runs if kind == "hydraflow" else args.basic_runs):
                    seconds, jobs = time_to_first_launch(kind, sweep, Path(tmp) / f"{kind}{i}")
                    samples.append(seconds)
                cells[kind] = (statistics.median(samples), jobs)
            if cells["basic"][1] != cells["hydraflow"][1]:
                raise RuntimeError(f"the sweepers disagree on the number of jobs: {cells}")
            rows.append((name, cells["basic"][1], cells["basic"][0], cells["hydraflow"][0]))

    print(
        f"## Time to first launch of a sweep, no-op launcher (median of {args.basic_runs} BasicSweeper "
        f"/ {args.runs} hydraflow runs)\n"
    )
    print("| sweep | jobs | BasicSweeper s | ms/job | hydraflow s | ms/job | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, jobs, basic, hydraflow in rows:
        print(
            f"| {name} | {jobs} | {basic:.3f} | {basic / jobs * 1e3:.1f} | {hydraflow:.3f} | "
            f"{hydraflow / jobs * 1e3:.2f} | {basic / hydraflow:.0f}x |"
        )


if __name__ == "__main__":
    main()

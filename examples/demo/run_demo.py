"""The demo, end to end: sweep (``hydraflow run train``), analysis (``RunCollection``) and a plot.

    python run_demo.py            # run (or resume) the sweep, then analyse and plot
    python run_demo.py --fresh    # delete this directory's MLflow store and outputs first

Everything happens in this directory: the MLflow store is ``mlflow.db`` + ``mlruns/`` (MLflow's default),
Hydra's outputs go to ``multirun/`` and the plot to ``out/val_loss_vs_lr.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLOT = HERE / "out" / "val_loss_vs_lr.png"


def sweep() -> None:
    """Run the ``train`` job of hydraflow.yaml: 12 jobs on the local launcher, 2 at a time."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hydraflow", "run", "train"], cwd=HERE, check=False)
    if proc.returncode != 0:
        sys.exit(f"demo: `hydraflow run train` failed with exit code {proc.returncode}")
    print(f"demo: sweep done in {time.perf_counter() - started:.1f} s")


def analyse() -> None:
    from hydraflow import Run, iter_run_dirs

    runs = Run.load(iter_run_dirs("train", tracking_uri=f"sqlite:///{HERE / 'mlflow.db'}"))
    runs = runs.filter(lambda r: r.info.status == "FINISHED")
    print(f"demo: {len(runs)} finished runs of experiment 'train'")

    # one row per run: the swept keys and the final validation loss
    table = runs.to_arrow("model.hidden", "model.lr", val_loss=lambda r: r.info.metrics["val_loss"])
    print(table.sort_by([("model.hidden", "ascending"), ("model.lr", "ascending")]).to_pandas().to_string())

    for hidden, group in runs.group_by("model.hidden").items():
        best = min(group, key=lambda r: r.info.metrics["val_loss"])
        print(
            f"demo: best of hidden={hidden}: lr={best.get('model.lr'):g} "
            f"val_loss={best.info.metrics['val_loss']:.4g} (run {best.run_id})"
        )

    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for hidden, group in sorted(runs.group_by("model.hidden").items()):
        points = sorted((r.get("model.lr"), r.info.metrics["val_loss"]) for r in group)
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=f"hidden = {hidden}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate (model.lr)")
    ax.set_ylabel("final validation MSE (val_loss)")
    ax.set_title("Tiny MLP on y = sin(3x) + 0.3x², 400 Adam steps")
    ax.grid(visible=True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    PLOT.parent.mkdir(exist_ok=True)
    fig.savefig(PLOT)
    print(f"demo: plot written to {PLOT}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fresh", action="store_true", help="delete the MLflow store and outputs first")
    args = parser.parse_args()
    os.chdir(HERE)
    if args.fresh:
        for name in ("mlflow.db", "mlruns", "multirun", "out", ".hydraflow-locks"):
            path = HERE / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    sweep()
    analyse()


if __name__ == "__main__":
    main()

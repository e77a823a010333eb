"""The ``hydraflow`` command line: ``expand``, ``run``, ``show``, ``runs``.

Each sub-command keeps its heavy imports inside its function so that ``hydraflow --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="hydraflow",
    help="Extended Hydra sweeps, cluster launchers and MLflow tracking for large parameter sweeps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Extended Hydra sweeps, cluster launchers and MLflow tracking for large parameter sweeps."""


def main() -> None:
    """Entry point of the ``hydraflow`` console script."""
    app()

"""The ``hydraflow`` command line: ``expand``, ``run``, ``show``, ``runs``.

Each sub-command keeps its heavy imports inside its function so that ``hydraflow --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - typer reads the annotations at runtime
from typing import Annotated

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


# ---------------------------------------------------------------------------------------------- expand
# `hydraflow expand`: the extended sweep grammar (hydraflow.sweep; Hydra imported inside the command).


@app.command("expand")
def expand_command(
    args: Annotated[list[str], typer.Argument(help="Sweep arguments key=value in the extended syntax.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of jobs, each an array of overrides.")
    ] = False,
    count: Annotated[bool, typer.Option("--count", help="Print only the number of jobs.")] = False,
) -> None:
    """Print the jobs a sweep expands to, one per line (shell-quoted overrides)."""
    import json
    import shlex
    import sys

    from hydraflow.hydra_adapter.native import make_native_expander
    from hydraflow.sweep import SweepSyntaxError, expand

    try:
        sweep = expand(args, native=make_native_expander())
    except SweepSyntaxError as exc:
        where = f"argument {exc.argument + 1}: " if exc.argument is not None else ""
        typer.echo(f"error: {where}{exc}", err=True)
        raise typer.Exit(2) from None
    out = sys.stdout
    if count:
        out.write(f"{sweep.count}\n")
    elif json_output:
        out.write("[")
        for n, job in enumerate(sweep):
            out.write(("," if n else "") + "\n  " + json.dumps(job))
        out.write("\n]\n")
    else:
        for job in sweep:
            out.write(shlex.join(job) + "\n")


# ---------------------------------------------------------------------------------------------- job files
# `hydraflow run` / `hydraflow show`: the jobs of hydraflow.yaml (hydraflow.jobs is imported inside commands).

_FILE_HELP = "Job file (default: hydraflow.yaml or .hydraflow.yaml in the current directory or a parent)."


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command("run")
def run_command(  # noqa: PLR0917 - typer maps parameters to options
    jobs: Annotated[
        list[str] | None, typer.Argument(help="Jobs to run (with what they need); default: all.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help=_FILE_HELP)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Print every job, run nothing.")] = False,
    submit: Annotated[
        bool, typer.Option("--submit", help="Send run jobs to SLURM (same as --launcher slurm).")
    ] = False,
    launcher: Annotated[
        str | None, typer.Option("--launcher", "-l", help="Launcher of run jobs: local, slurm or pbs.")
    ] = None,
    add: Annotated[
        list[str] | None,
        typer.Option("--add", "-a", help="Extra Hydra setting for every set (key=value); repeatable."),
    ] = None,
) -> None:
    """Run jobs of hydraflow.yaml, each set as one Hydra multirun, in the order their `needs` give."""
    from hydraflow.jobs import JobFileError, describe_plan, load_job_file, plan, run_plan, summarize

    if submit and launcher not in (None, "slurm"):
        raise _fail(f"--submit sends jobs to SLURM; it cannot be combined with --launcher {launcher}")
    try:
        job_file = load_job_file(file)
        steps = plan(job_file, jobs or [], launcher="slurm" if submit else launcher, extra=add or [])
    except (JobFileError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if dry_run:
        describe_plan(steps)
        return
    results = run_plan(job_file, steps)
    code = summarize(results)
    if code:
        raise typer.Exit(code)


@app.command("show")
def show_command(
    job: Annotated[
        str | None, typer.Argument(help="A job to show in detail; default: a table of all jobs.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help=_FILE_HELP)] = None,
) -> None:
    """Show the jobs of hydraflow.yaml: commands, needs, sets and how many jobs each set expands to."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from hydraflow.jobs import JobFileError, describe_job, load_job_file, plan

    try:
        job_file = load_job_file(file)
        steps_by_job = plan(job_file, [job] if job else [])
    except (JobFileError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console = Console(highlight=False, soft_wrap=True)
    console.print(Text(str(job_file.path), style="bold"))
    if job is None:
        table = Table("job", "kind", "command", "needs", "sets", "jobs")
        for j, steps in steps_by_job:
            counts = [step.count for step in steps]
            count = "?" if None in counts else str(sum(c for c in counts if c is not None))
            cells = (j.name, j.kind, j.command, ", ".join(j.needs), str(len(steps)), count)
            table.add_row(*(Text(cell) for cell in cells))
        console.print(table)
        return
    for j, steps in steps_by_job:
        if j.name == job:
            describe_job(j, steps, typer.echo)


@app.command("runs")
def runs_command(  # noqa: PLR0917 - typer maps parameters to options
    experiment: Annotated[
        str | None, typer.Argument(help="Experiment (Hydra job) name or glob pattern; default: all.")
    ] = None,
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", "-F", help="Keep runs whose config key (or status, metric) has this value."),
    ] = None,
    columns: Annotated[
        list[str] | None,
        typer.Option("--columns", "-c", help="Columns to show, comma-separated (repeatable)."),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option("--tracking-uri", help="MLflow store (default: MLflow's, sqlite:///mlflow.db)."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write all columns to this CSV file.")
    ] = None,
    parquet: Annotated[
        Path | None, typer.Option("--parquet", help="Also write all columns to this Parquet file.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Show at most this many rows.")] = None,
) -> None:
    """A table of runs (status, config keys that vary, latest metrics), with CSV/Parquet export."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from hydraflow.jobs.runs_table import format_cell, load_table
    from hydraflow.store.errors import store_errors

    try:
        table = load_table(experiment, tracking_uri=tracking_uri, filters=filter_ or [])
        shown = [c.strip() for item in columns or [] for c in item.split(",") if c.strip()]
        if shown:
            table.check_columns(shown)
        else:
            shown = table.default_columns()
    except store_errors(ValueError) as exc:  # a bad filter or column; a store that cannot be read
        raise _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if csv is not None:
        table.write_csv(csv)
    if parquet is not None:
        table.write_parquet(parquet)
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # a file or a pipe: never squeeze the columns to 80 characters
        console = Console(highlight=False, soft_wrap=True, width=100_000)
    rows = table.rows if limit is None else table.rows[:limit]
    out = Table(*shown, title=f"{len(table)} runs" + (f" of {experiment}" if experiment else ""))
    for row in rows:
        out.add_row(*(Text(format_cell(row[c])[:8] if c == "run_id" else format_cell(row[c])) for c in shown))
    console.print(out)
    if len(rows) < len(table):
        console.print(f"... {len(table) - len(rows)} more (--limit {limit})")
    for path in (csv, parquet):
        if path is not None:
            console.print(Text(f"wrote {len(table)} runs to {path}"))

"""Finding and reading ``hydraflow.yaml``: in the current directory or a parent (like git), or as given."""

from __future__ import annotations

from pathlib import Path

from hydraflow.jobs.safe_yaml import MAX_FILE_BYTES
from hydraflow.jobs.schema import JobFile, JobFileError, parse_job_file

FILE_NAMES = ("hydraflow.yaml", ".hydraflow.yaml")


def find_job_file(start: Path | str | None = None) -> Path | None:
    """The nearest ``hydraflow.yaml`` (or ``.hydraflow.yaml``) in ``start`` or one of its parents, or None."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for directory in (here, *here.parents):
        for name in FILE_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def load_job_file(path: Path | str | None = None, *, start: Path | str | None = None) -> JobFile:
    """Read and validate a job file: ``path`` if given, else the one found from ``start`` (default: cwd)."""
    if path is None:
        found = find_job_file(start)
        if found is None:
            where = Path(start if start is not None else Path.cwd()).resolve()
            names = " or ".join(FILE_NAMES)
            msg = f"no {names} in {where} or any parent directory (use --file to name one)"
            raise JobFileError(msg)
        path = found
    path = Path(path).resolve()
    if not path.is_file():
        raise JobFileError("job file not found", path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # refused unread
            limit = MAX_FILE_BYTES / 2**20
            msg = f"the job file has {size / 2**20:.1f} MiB; at most {limit:.0f} MiB are read"
            raise JobFileError(msg, path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JobFileError(f"cannot read the job file: {exc}", path) from None
    return parse_job_file(text, path)

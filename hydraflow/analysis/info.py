"""What a tracking store knows about a run: :class:`RunInfo`, filled by the readers of each store kind."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["INFO_KEYS", "STATUS_BY_CODE", "RunInfo", "datetime_from_ms"]

#: mlflow.entities.RunStatus codes (as a file store's meta.yaml writes them) -> names
STATUS_BY_CODE = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def datetime_from_ms(value: Any) -> datetime | None:
    """MLflow's milliseconds since the epoch as a UTC datetime (None for a missing value).

    >>> datetime_from_ms(0), datetime_from_ms(None)
    (datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), None)
    """
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)


@dataclass(eq=False)
class RunInfo:
    """What the tracking store knows about a run.

    ``RunInfo(run_dir)`` (as in HydraFlow) knows only the directory and the run id (its name); the analysis
    API fills in the rest from the tracking store.

    Attributes:
        run_dir: The run directory ``<artifact root>/<experiment id>/<run id>`` (contains ``artifacts/``).
        run_id: The MLflow run id (by default the name of the run directory).
        experiment_id: The MLflow experiment id, or None when the store does not know the run.
        experiment_name: The experiment name, which is the Hydra job name in hydraflow's layout.
        status: ``"RUNNING"``, ``"FINISHED"``, ``"FAILED"``, ``"KILLED"``, ``"SCHEDULED"`` or None.
        start_time: When the run started (UTC), or None.
        end_time: When the run ended (UTC), or None while it runs.
        params: The logged parameters (strings, as MLflow stores them).
        tags: The run tags.
        metrics: The latest value of every logged metric (highest step, then latest timestamp).
        run_name: The MLflow run name.
        lifecycle_stage: ``"active"`` or ``"deleted"``.
        artifact_uri: The artifact URI recorded by MLflow.
    """

    run_dir: Path
    run_id: str = ""
    experiment_id: str | None = None
    experiment_name: str | None = None
    status: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    run_name: str | None = None
    lifecycle_stage: str | None = None
    artifact_uri: str | None = None

    def __post_init__(self) -> None:
        """A run directory given as a string becomes a path; the run id defaults to its name."""
        if not isinstance(self.run_dir, Path):
            self.run_dir = Path(self.run_dir)
        if not self.run_id:
            self.run_id = self.run_dir.name

    @property
    def job_name(self) -> str | None:
        """The Hydra job name (alias of :attr:`experiment_name`)."""
        return self.experiment_name

    @property
    def host(self) -> str | None:
        """The host that ran the run (its latest attempt): the ``hydraflow.host`` tag, or None."""
        return self.tags.get("hydraflow.host")

    @property
    def duration(self) -> float | None:
        """Seconds between start and end, or None if either is unknown."""
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """The information as a flat dict: ``params.<k>``, ``tags.<k>`` and ``metrics.<k>`` entries."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "experiment_id": self.experiment_id,
            "experiment_name": self.experiment_name,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "run_name": self.run_name,
        }
        for prefix, values in (("params", self.params), ("tags", self.tags), ("metrics", self.metrics)):
            for k, v in values.items():
                out[f"{prefix}.{k}"] = v
        return out


INFO_KEYS = frozenset({f.name for f in fields(RunInfo)} | {"job_name", "duration", "host"})
"""First key segments that :meth:`Run.get` looks up in ``run.info``."""

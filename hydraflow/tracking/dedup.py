"""The dedup hook of ``@hydraflow.main`` apps: which jobs of a batch already have a FINISHED run.

``@hydraflow.main`` attaches a :class:`DedupHook` to its task function as ``task.__hydraflow_dedup__``; the
hydraflow launchers call it once per batch before they launch anything (``hydraflow.launch.dedup``), so a
finished job is neither forked nor submitted. It computes each job's key exactly as the job itself will
(:func:`apply_update`, :func:`fingerprints`; the job's own check in ``hydraflow.tracking.main`` uses the same
two functions) and reads the store **once per experiment**: the keys of every FINISHED run, with their run id
and stored return value (:func:`finished_runs`: one SQL query on a sqlite store, one paged ``search_runs``
otherwise).

A job whose key could differ when it runs is not judged here (it runs and checks itself): its config uses a
resolver whose value depends on when or where it is resolved (``${now:}``, ``${oc.env:}``, a custom
resolver, ``${hydra:}`` keys other than the job's name, choices and overrides). Nothing is written to the
store.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hydraflow import settings
from hydraflow.store.uri import absolute_uri, resolve_tracking_uri, sqlite_path
from hydraflow.tracking.ids import RESOLVER_NAME, fingerprint

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

log = logging.getLogger("hydraflow")

HOOK_ATTRIBUTE = "__hydraflow_dedup__"

#: Resolvers whose value depends only on the config itself.
STABLE_RESOLVERS = frozenset(
    {"oc.select", "oc.dict.keys", "oc.dict.values", "oc.decode", "oc.create", "oc.deprecated", RESOLVER_NAME}
)
#: ``${hydra:KEY}`` keys that are the same wherever and whenever a job runs.
STABLE_HYDRA_KEYS = (
    "job.name",
    "job.override_dirname",
    "runtime.choices",
    "overrides.task",
    "job.config_name",
)

_RESOLVER = re.compile(r"\$\{\s*([\w.\-]+)\s*:([^}]*)")


def apply_update(cfg: Any, update: Callable[[Any], Any]) -> Any:
    """The job config after the user's ``update(cfg)`` (a returned dataclass or dict becomes a config)."""
    from omegaconf import DictConfig, OmegaConf

    updated = update(cfg)
    if updated is None:
        return cfg
    return updated if isinstance(updated, DictConfig) else OmegaConf.create(updated)


def fingerprints(cfg: Any, hc: Any) -> tuple[str, str]:
    """(config fingerprint, overrides fingerprint) of a job: its resolved config, its sorted overrides."""
    overrides = sorted(str(o) for o in hc.overrides.task)
    return fingerprint(cfg), fingerprint(overrides)


def decode_return(text: str | None) -> Any:
    """The value stored in a run's ``hydraflow.return`` tag (None when absent or not JSON).

    >>> decode_return('{"a": 1}'), decode_return(None), decode_return("not json")
    ({'a': 1}, None, None)
    """
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def stable_or_hydra(cfg: Any) -> bool | None:
    """Whether resolving ``cfg`` gives the same values in the controller as in the job.

    ``None``: no (a resolver whose value depends on when or where it runs); ``True``: yes, once Hydra's
    config is the job's (``${hydra:...}`` of a stable key); ``False``: yes, as it is.

    >>> from omegaconf import OmegaConf
    >>> stable_or_hydra(OmegaConf.create({"a": 1, "b": "${a}", "c": "${oc.select:a,2}"}))
    False
    >>> stable_or_hydra(OmegaConf.create({"d": "${hydra:job.name}"}))
    True
    >>> [stable_or_hydra(OmegaConf.create({"x": text})) for text in ("${now:%H}", "${hydra:job.num}")]
    [None, None]
    """
    from omegaconf import OmegaConf

    uses_hydra = False
    for text in _strings(OmegaConf.to_container(cfg, resolve=False)):
        for name, argument in _RESOLVER.findall(text):
            if name == "hydra" and argument.strip().startswith(STABLE_HYDRA_KEYS):
                uses_hydra = True
            elif name not in STABLE_RESOLVERS:
                return None
    return uses_hydra


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if "${" in value:
            yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass(frozen=True)
class DedupHook:
    """``task.__hydraflow_dedup__`` (the protocol is ``hydraflow.launch.dedup.DedupHook``).

    ``active`` is False when every job must run anyway (``force_new_run``, ``rerun_finished``, dry run).
    """

    tracking_uri: str | None
    match_overrides: bool
    update: Callable[[Any], Any] | None
    active: bool

    def __call__(self, jobs: Iterable[Any]) -> Iterator[tuple[str, Any] | None]:
        """The FINISHED run (run id, stored return value) of each job read from ``jobs``, or None, lazily.

        ``jobs`` are ``hydraflow.launch.dedup.JobView``. Stops at the first job whose experiment has no
        FINISHED run at all (a first sweep costs one job's key and one query).
        """
        from hydraflow.tracking.store import FINGERPRINT_TAG, OVERRIDES_TAG

        if not self.active or settings.dry_run():
            return
        tag = OVERRIDES_TAG if self.match_overrides else FINGERPRINT_TAG
        known: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = {}
        for job in jobs:
            key = self._key(job)
            if key is None:
                yield None
                continue
            uri, experiment, value = key
            finished = known.get((uri, experiment))
            if finished is None:
                finished = known[uri, experiment] = finished_runs(uri, experiment, tag)
                if not finished and len(known) == 1:
                    yield None
                    return
            hit = finished.get(value)
            yield None if hit is None else (hit[0], decode_return(hit[1]))

    def warm(self) -> None:
        """Import what every job imports (MLflow, its client and SQL store) once, in a launcher about to fork.

        Each forked job then finds them loaded (about 2 s of CPU per job otherwise).
        """
        if settings.dry_run():
            return
        import mlflow.entities
        import mlflow.tracking

        from hydraflow.store.uri import parse_store
        from hydraflow.tracking import store

        del mlflow, store
        if parse_store(resolve_tracking_uri(self.tracking_uri)).kind in {"sqlite", "sql"}:
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

    def _key(self, job: Any) -> tuple[str, str, str] | None:
        """(store URI, experiment, fingerprint) of a job, as the job will compute them; None if unsure."""
        from types import SimpleNamespace

        cfg = job.config
        try:
            uses_hydra = stable_or_hydra(cfg)
            if uses_hydra is None:
                return None
            if uses_hydra or self.update is not None:
                job.with_hydra()  # ${hydra:...} (and HydraConfig.get() in update) as in the job
            if self.update is not None:
                cfg = apply_update(copy.deepcopy(cfg), self.update)
            hc = SimpleNamespace(overrides=SimpleNamespace(task=job.overrides))
            config_fp, overrides_fp = fingerprints(cfg, hc)
        # a job whose config does not resolve (missing value, bad interpolation) fails when it runs, with its
        # own error: it is not judged here
        except Exception:
            log.debug("hydraflow: no dedup key for job #%s", job.num, exc_info=True)
            return None
        uri = absolute_uri(resolve_tracking_uri(self.tracking_uri))
        return uri, job.job_name, overrides_fp if self.match_overrides else config_fp


def finished_runs(uri: str, experiment: str, tag: str) -> dict[str, tuple[str, str | None]]:
    """Tag value -> (run id, ``hydraflow.return`` tag) of the FINISHED runs of ``experiment`` (newest wins).

    Deleted runs and deleted experiments are left out (a job of a deleted experiment runs and reports it).
    A store that cannot be read gives an empty answer (every job runs and checks itself) and a warning.
    """
    try:
        db = sqlite_path(uri)
        if db is not None:
            return _finished_sqlite(db, experiment, tag) if db.is_file() else {}
        return _finished_client(uri, experiment, tag)
    except Exception as exc:  # noqa: BLE001 - any store error: the jobs' own checks decide
        log.warning("hydraflow: could not read FINISHED runs of %r from %s: %s", experiment, uri, exc)
        return {}


def _finished_sqlite(db: Any, experiment: str, tag: str) -> dict[str, tuple[str, str | None]]:
    from hydraflow.tracking.store import RETURN_TAG

    sql = (
        "SELECT t.value, r.run_uuid, (SELECT v.value FROM tags v WHERE v.run_uuid = r.run_uuid AND v.key = ?)"
        " FROM experiments e JOIN runs r ON r.experiment_id = e.experiment_id"
        " JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = ?"
        " WHERE e.name = ? AND e.lifecycle_stage = 'active' AND r.lifecycle_stage = 'active'"
        " AND r.status = 'FINISHED' ORDER BY r.start_time DESC"
    )
    out: dict[str, tuple[str, str | None]] = {}
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    with contextlib.closing(con):
        for value, run_id, returned in con.execute(sql, (RETURN_TAG, tag, experiment)):
            out.setdefault(value, (run_id, returned))
    return out


def _finished_client(uri: str, experiment: str, tag: str) -> dict[str, tuple[str, str | None]]:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    from hydraflow.store.errors import retry
    from hydraflow.tracking.store import RETURN_TAG

    client = MlflowClient(uri)
    exp = retry(client.get_experiment_by_name, experiment, what="get_experiment_by_name")
    out: dict[str, tuple[str, str | None]] = {}
    if exp is None or exp.lifecycle_stage == "deleted":
        return out
    token = None
    while True:
        page = retry(
            client.search_runs,
            [exp.experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=5000,
            order_by=["attributes.start_time DESC"],
            page_token=token,
            what="search_runs",
        )
        for run in page:
            value = run.data.tags.get(tag)
            if value is not None:
                out.setdefault(value, (run.info.run_id, run.data.tags.get(RETURN_TAG)))
        token = page.token
        if not token:
            return out


__all__ = [
    "HOOK_ATTRIBUTE",
    "DedupHook",
    "apply_update",
    "decode_return",
    "fingerprints",
    "finished_runs",
    "stable_or_hydra",
]

"""``@hydraflow.main``: every Hydra job becomes one MLflow run, deduplicated by a config fingerprint."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hydraflow import settings
from hydraflow.store.errors import is_not_found, retry
from hydraflow.tracking.dedup import HOOK_ATTRIBUTE, DedupHook, apply_update, decode_return, fingerprints
from hydraflow.tracking.ids import fingerprint
from hydraflow.tracking.where import where_tags

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from hydraflow.tracking.stop import StopGuard

__all__ = ["DRY_RUN_ENV", "DRY_RUN_FLAG", "IDENTITY_TAG", "flatten_params", "main", "run_name"]

log = logging.getLogger("hydraflow")

C = TypeVar("C")
R = TypeVar("R")

DRY_RUN_FLAG = "--dry-run"
DRY_RUN_ENV = settings.DRY_RUN.name
#: Run tag holding the fingerprint of an app's identity keys (``@hydraflow.main(..., identity=[...])``).
IDENTITY_TAG = "hydraflow.identity"

# MLflow limits (mlflow.utils.validation): values are cut to these lengths, batches to this size.
_MAX_PARAM_VALUE = 6000
_MAX_KEY = 250
_MAX_TAG_VALUE = 8000
_BATCH = 100


def main(
    node: Any = None,
    config_name: str = "config",
    *,
    config_path: str | None = None,
    tracking_uri: str | Path | None = None,
    chdir: bool = False,
    force_new_run: bool = False,
    match_overrides: bool = False,
    rerun_finished: bool = False,
    dry_run: bool = False,
    update: Callable[[Any], Any] | None = None,
    identity: Sequence[str] | str | None = None,
) -> Callable[[Callable[[Run, Any], R]], Callable[..., Any]]:
    """Turn ``fn(run, cfg)`` into a Hydra app whose every job is one MLflow run.

    Args:
        node: The config schema: a dataclass class or instance (or a dict), stored in Hydra's ConfigStore
            under ``config_name`` (or ``<config_name>_schema`` when ``config_path`` is given, for use in the
            YAML's ``defaults`` list). ``None`` for YAML-only apps.
        config_name: The primary config name.
        config_path: Directory of YAML configs, relative to the app's file (as in ``hydra.main``).
        tracking_uri: MLflow tracking URI; MLflow's default (``sqlite:///mlflow.db``) when None.
        chdir: Run the function inside the run's local artifact directory.
        force_new_run: Always start a new run (no lookup).
        match_overrides: Identify runs by the job's command-line overrides instead of the whole resolved
            config.
        rerun_finished: Run the function again for a FINISHED run (into the same run id).
        dry_run: Print each job's config and fingerprint; touch no store, do not call the function. The
            command-line flag ``--dry-run`` (removed before Hydra parses the arguments) and
            ``HYDRAFLOW_DRY_RUN=1`` do the same.
        update: ``update(cfg) -> cfg | None`` applied to the job's config before it is fingerprinted, logged
            and saved to ``.hydra/config.yaml``.
        identity: The config keys that make a run's identity (``["model", "data", "target.seed"]``):
            a job is the same run as an earlier one when these values are equal, whatever the other keys
            say (the config-key counterpart of ``match_overrides``). Default: the whole resolved config.
            The fingerprint of these keys is the run tag ``hydraflow.identity``; its first 16 characters
            equal ``${hydraflow.id:<the same keys>}``.

    The function receives the active ``mlflow.entities.Run`` and the job's ``DictConfig`` (typed and
    validated by the schema; use ``OmegaConf.to_object(cfg)`` for a real dataclass instance). Its return value
    is returned to Hydra (``JobReturn.return_value`` in multirun, so optimising sweepers see it) and, when
    JSON-serialisable and short, stored as the run tag ``hydraflow.return``; a skipped job returns that
    stored value (or None).
    """
    keys = _identity_keys(identity, match_overrides=match_overrides)
    # HydraFlow 0.23 takes --dry-run out of sys.argv when the decorator is made; so does hydraflow (and again
    # when the app starts, for a command line set later).
    dry_run = _pop_dry_run_flag() or dry_run

    def decorator(fn: Callable[[Run, Any], R]) -> Callable[..., Any]:
        import hydra
        from hydra.core.config_store import ConfigStore

        if node is not None:
            name = config_name if config_path is None else f"{config_name}_schema"
            ConfigStore.instance().store(name=name, node=node)

        options = _Options(
            tracking_uri=None if tracking_uri is None else str(tracking_uri),
            chdir=chdir,
            force_new_run=force_new_run,
            match_overrides=match_overrides,
            rerun_finished=rerun_finished,
            update=update,
            identity=keys,
        )

        def hydra_app(job_dry_run: bool) -> Callable[..., Any]:
            # The task closes over this call's dry-run choice: launchers ship it to their workers with the
            # task (fork, cloudpickle), so no process-wide state has to carry it.
            @functools.wraps(fn)
            def task(cfg: Any) -> Any:
                return _job(fn, cfg, job_dry_run or settings.dry_run(), options)

            # the launchers skip jobs whose run is FINISHED before they launch them (tracking/dedup.py)
            skip_none = options.force_new_run or options.rerun_finished or job_dry_run
            hook = DedupHook(options.tracking_uri, options.match_overrides, options.update, not skip_none)
            setattr(task, HOOK_ATTRIBUTE, hook)

            app: Callable[..., Any] = hydra.main(
                config_path=config_path, config_name=config_name, version_base=None
            )(task)
            return app

        @functools.wraps(fn)
        def entry(cfg_passthrough: Any = None) -> Any:
            if cfg_passthrough is not None:
                return hydra_app(dry_run)(cfg_passthrough)
            args = [str(a) for a in list(sys.argv)[1:]]  # list(): tests may replace sys.argv by a mock
            flagged = DRY_RUN_FLAG in args
            args = [a for a in args if a != DRY_RUN_FLAG]
            # Hydra applies every non-sweep argument to the config before the sweeper sees it: extended
            # sweeps (lr=0.01:0.05:0.01 on a float field, wd/m=5) go to hydra.sweeper.params instead.
            from hydraflow.hydra_adapter.argv import hydra_safe_argv

            with hydra_command_line(hydra_safe_argv(args)):
                return hydra_app(dry_run or flagged)(None)

        return entry

    return decorator


def _identity_keys(identity: Sequence[str] | str | None, *, match_overrides: bool) -> tuple[str, ...]:
    """The identity keys as a tuple (empty: the whole config identifies a run).

    >>> _identity_keys("model", match_overrides=False), _identity_keys(None, match_overrides=False)
    (('model',), ())
    """
    if identity is None:
        return ()
    keys = (identity,) if isinstance(identity, str) else tuple(identity)
    if not keys or not all(isinstance(k, str) and k.strip() for k in keys):
        msg = f"hydraflow.main(identity=...) needs one or more config keys, got {identity!r}"
        raise ValueError(msg)
    if match_overrides:
        msg = "hydraflow.main: identity= and match_overrides=True are two ways to identify runs: choose one"
        raise ValueError(msg)
    return tuple(k.strip() for k in keys)


def _pop_dry_run_flag() -> bool:
    """Take ``--dry-run`` out of ``sys.argv`` (a real list only); whether it was there."""
    argv = sys.argv
    if not isinstance(argv, list) or DRY_RUN_FLAG not in argv[1:]:
        return False
    argv[1:] = [a for a in argv[1:] if a != DRY_RUN_FLAG]
    return True


@dataclass(frozen=True)
class _Options:
    """The decorator's choices, shipped to every job with its task."""

    tracking_uri: str | None
    chdir: bool
    force_new_run: bool
    match_overrides: bool
    rerun_finished: bool
    update: Callable[[Any], Any] | None
    identity: tuple[str, ...] = ()


@contextlib.contextmanager
def hydra_command_line(args: list[str]) -> Iterator[None]:
    """Give Hydra ``args`` as the command line for the duration of the block; restore ``sys.argv`` after.

    ``@hydra.main`` parses ``sys.argv`` and has no parameter for the arguments (only Hydra's private
    ``_run_hydra`` takes them), so this is the one place where hydraflow sets ``sys.argv``.
    """
    saved = sys.argv[:]
    sys.argv[1:] = args
    try:
        yield
    finally:
        sys.argv[:] = saved


def _hydra_dir(hc: Any) -> Path | None:
    if hc.output_subdir is None:
        return None
    return Path(str(hc.runtime.output_dir)) / str(hc.output_subdir)


def _job(fn: Callable[[Run, Any], Any], cfg: Any, dry_run: bool, opts: _Options) -> Any:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    hc = HydraConfig.get()
    if opts.update is not None:
        # a returned dataclass instance or dict becomes a config again (params, fingerprint, saved yaml)
        cfg = apply_update(cfg, opts.update)
        hydra_dir = _hydra_dir(hc)
        if hydra_dir is not None:
            OmegaConf.save(cfg, hydra_dir / "config.yaml")

    overrides = sorted(str(o) for o in hc.overrides.task)
    config_fp, overrides_fp = fingerprints(cfg, hc)
    identity_fp = fingerprint(cfg, *opts.identity) if opts.identity else None
    job_name = str(hc.job.name)

    if dry_run:
        log.info(
            "hydraflow dry run: job %s, fingerprint %s%s, overrides %s\n%s",
            job_name,
            config_fp,
            "" if identity_fp is None else f", identity {identity_fp} ({', '.join(opts.identity)})",
            overrides,
            OmegaConf.to_yaml(cfg).rstrip(),
        )
        return None

    import mlflow

    from hydraflow.store.uri import absolute_uri
    from hydraflow.tracking import store

    # Relative store paths (MLflow's default sqlite:///mlflow.db and ./mlruns included) mean the directory the
    # app was started from, even when Hydra changed into the job's output directory (hydra.job.chdir=True).
    with _working_dir(_start_dir(hc)):
        uri = absolute_uri(opts.tracking_uri or mlflow.get_tracking_uri())
        mlflow.set_tracking_uri(uri)
        client = _client(uri)
        experiment = store.get_or_create_experiment(client, job_name)
    exp_id = str(experiment.experiment_id)

    tag, key = _run_key(opts, config_fp, overrides_fp, identity_fp)
    lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if not opts.force_new_run:
        directory = store.lock_dir(uri, experiment.artifact_location, shared=Path(str(hc.runtime.cwd)))
        lock = store.fingerprint_lock(directory, f"{exp_id}-{key[:40]}")

    with lock:
        existing = None if opts.force_new_run else store.find_run(client, exp_id, tag, key)
        if existing is not None and existing.info.status == "FINISHED" and not opts.rerun_finished:
            log.info(
                "hydraflow: skipping job %s: run %s (experiment %s) with %s %s is FINISHED "
                "(pass rerun_finished=True to run it again)",
                job_name,
                existing.info.run_id,
                job_name,
                tag,
                key,
            )
            if identity_fp is not None and existing.data.tags.get(store.FINGERPRINT_TAG) != config_fp:
                _log_same_identity(job_name, opts.identity, existing)
            return _stored_return(existing)
        if existing is not None:
            log.info(
                "hydraflow: %s run %s (status %s) of experiment %s",
                "rerunning" if existing.info.status == "FINISHED" else "resuming",
                existing.info.run_id,
                existing.info.status,
                job_name,
            )
        tags = {
            store.FINGERPRINT_TAG: config_fp,
            store.OVERRIDES_TAG: overrides_fp,
            store.JOB_NAME_TAG: job_name,
            store.VERSION_TAG: _version(),
            **where_tags(existing.data.tags if existing is not None else {}),
        }
        if identity_fp is not None:
            tags[IDENTITY_TAG] = identity_fp
        return _execute(fn, cfg, hc, client, exp_id, existing, tags, opts)


_prepared: set[str] = set()


def _client(uri: str) -> MlflowClient:
    """An MlflowClient for ``uri``; a new sqlite file gets its schema under an inter-process lock."""
    from mlflow.tracking import MlflowClient

    from hydraflow.store.uri import parse_store, sqlite_path
    from hydraflow.tracking import store

    db = sqlite_path(uri)
    files = parse_store(uri)
    if files.kind == "file" and files.path is not None and not (files.path / "0" / "meta.yaml").is_file():
        # a new file store: MLflow writes its Default experiment when a client first opens it; jobs doing that
        # at once fail ("meta.yaml exists"): serialise the first opening too
        with store.fingerprint_lock(store.lock_dir(uri, None), "init-file-store"):
            client = retry(MlflowClient, uri, what="open store")
    elif db is None or uri in _prepared or store.sqlite_ready(db):
        client = retry(MlflowClient, uri, what="open store")
    else:
        # MLflow creates the tables of a new sqlite file when the client opens it; 32 jobs doing that at
        # once race (duplicate tables, half-migrated schema): serialise the first opening.
        with store.fingerprint_lock(db.parent / ".hydraflow-locks", f"init-{db.name}"):
            client = retry(MlflowClient, uri, what="open store")
            retry(client.search_experiments, max_results=1, what="open sqlite store")
            retry(store.index_sqlite_tags, db, what="index tags")
            store.mark_sqlite_ready(db)
    _prepared.add(uri)
    return client


def _version() -> str:
    from hydraflow import __version__

    return __version__


RUN_NAME_MAX = 250  # characters of an MLflow run name (its UI and search stay usable)


def run_name(job_name: str, override_dirname: str) -> str:
    """The MLflow run name of a job: its overrides (MLflow would pick a random one, ``masked-hog-525``).

    >>> run_name("train", "lr=0.1,model=mlp"), run_name("train", "")
    ('lr=0.1,model=mlp', 'train')
    >>> len(run_name("train", "x=" + "9" * 400))
    250
    """
    name = override_dirname or job_name
    return name if len(name) <= RUN_NAME_MAX else name[: RUN_NAME_MAX - 1] + "…"


def _execute(  # noqa: PLR0917
    fn: Callable[[Run, Any], Any],
    cfg: Any,
    hc: Any,
    client: MlflowClient,
    exp_id: str,
    existing: Run | None,
    tags: dict[str, str],
    opts: _Options,
) -> Any:
    import mlflow
    from mlflow.entities import RunTag

    from hydraflow.tracking import store
    from hydraflow.tracking.stop import JobStopped, StopGuard, die_by

    started: list[str] = []  # the run id, once the run exists

    def mark_killed() -> None:
        if started:
            retry(client.set_terminated, started[0], "KILLED", what="set_terminated(KILLED)")

    # a stop signal (Ctrl-C, timeout, scancel, qdel, preemption) ends the run KILLED: see tracking/stop.py
    guard = StopGuard(mark_killed)
    with guard:
        try:
            if existing is None:
                name = run_name(str(hc.job.name), str(hc.job.get("override_dirname") or ""))
                created = retry(client.create_run, exp_id, tags=tags, run_name=name, what="create_run")
                started.append(run_id := created.info.run_id)
                old_params: dict[str, str] = {}
            else:
                started.append(run_id := existing.info.run_id)
                old_params = dict(existing.data.params)
                tag_list = [RunTag(k, v) for k, v in tags.items()]
                retry(client.log_batch, run_id, tags=tag_list, what="log_batch(tags)")
            # The job's experiment becomes MLflow's active one (as in HydraFlow): start_run refuses a run of
            # another experiment than the active one, which an earlier mlflow.set_experiment may have set.
            retry(mlflow.set_experiment, experiment_id=exp_id, what="set_experiment")
            active = retry(mlflow.start_run, run_id=run_id, what="start_run")
            result = _run_job(fn, cfg, hc, client, run_id, old_params, active, opts)
        except BaseException as exc:  # any failure of the job, a stop signal included: the run is closed
            guard.closing = True
            guard.wait()
            if started:
                _close_after(exc, guard, client, started[0], hc, resumed=existing is not None)
            if isinstance(exc, JobStopped):
                die_by(exc.signum)  # as the signal's default action would have, now that the run is closed
            raise
        guard.closing = True
        guard.wait()  # a SIGTERM that did not stop the job (submitit): its KILLED mark lands before FINISHED
        encoded = _encode_return(result)
        if encoded is not None:
            retry(client.set_tag, run_id, store.RETURN_TAG, encoded, what="set_tag(return)")
        _close(client, run_id, hc, "FINISHED", resumed=existing is not None)
    return result


def _close_after(
    exc: BaseException, guard: StopGuard, client: MlflowClient, run_id: str, hc: Any, *, resumed: bool
) -> None:
    """End the run after the job raised ``exc``: ``KILLED`` when it was stopped, else ``FAILED``."""
    from hydraflow.tracking.stop import signal_name

    stopped = guard.stopped or isinstance(exc, KeyboardInterrupt)
    if stopped:
        why = "interrupted" if guard.signum is None else f"stopped by {signal_name(guard.signum)}"
        log.warning("hydraflow: job %s, run %s marked KILLED", why, run_id)
    else:
        log.error("hydraflow: job failed, run %s marked FAILED", run_id, exc_info=exc)
    _close(client, run_id, hc, "KILLED" if stopped else "FAILED", resumed=resumed)


def _run_job(  # noqa: PLR0917
    fn: Callable[[Run, Any], Any],
    cfg: Any,
    hc: Any,
    client: MlflowClient,
    run_id: str,
    old_params: dict[str, str],
    active: Run,
    opts: _Options,
) -> Any:
    """Log the params (those not logged yet) and ``.hydra/``, then call the job's function in the run."""
    import mlflow
    from mlflow.entities import Param

    params = []
    for k, v in flatten_params(cfg).items():
        if k in old_params:
            if old_params[k] != v:
                log.warning("hydraflow: param %s of run %s stays %r (now %r)", k, run_id, old_params[k], v)
            continue
        params.append(Param(k, v))
    for i in range(0, len(params), _BATCH):
        retry(client.log_batch, run_id, params=params[i : i + _BATCH], what="log_batch(params)")
    hydra_dir = _hydra_dir(hc)
    if hydra_dir is not None and hydra_dir.is_dir():
        client.log_artifacts(run_id, str(hydra_dir), ".hydra")
    run = mlflow.active_run() or active
    with _maybe_chdir(run if opts.chdir else None):
        return fn(run, cfg)


def _close(client: MlflowClient, run_id: str, hc: Any, status: str, *, resumed: bool) -> None:
    """Log ``.hydra/`` and the job log, then end the run with ``status``.

    An error while logging never hides the job's own error: after a failed job it is logged (with its
    traceback) and the job's error propagates; after a successful job it propagates itself, once the run has
    ended.
    """
    import mlflow

    try:
        if status != "FINISHED":  # the status and end time first: a SIGKILL during the upload keeps them
            retry(client.set_terminated, run_id, status, what=f"set_terminated({status})")
        hydra_dir = _hydra_dir(hc)
        if hydra_dir is not None and hydra_dir.is_dir():
            client.log_artifacts(run_id, str(hydra_dir), ".hydra")
        _log_job_log(client, run_id, hc, resumed=resumed)
    except Exception:  # any error of the upload (store, network, auth): re-raised unless the job's own
        if status == "FINISHED":  # error is already on its way up (then it is logged here, with traceback)
            raise
        log.exception("hydraflow: could not log the .hydra files / job log of run %s", run_id)
    finally:
        retry(mlflow.end_run, status, what="end_run")


def _log_job_log(client: MlflowClient, run_id: str, hc: Any, *, resumed: bool) -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(OSError, ValueError):  # a handler whose stream is closed or broken
            handler.flush()
    path = Path(hc.runtime.output_dir) / f"{hc.job.name}.log"
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    if resumed:
        import mlflow

        try:
            previous = mlflow.artifacts.load_text(f"runs:/{run_id}/{path.name}")
        except Exception as exc:  # re-raised unless is_not_found(): the run had no log yet
            if not is_not_found(exc):
                raise
            previous = ""
        if previous and previous not in text:
            text = previous + ("" if previous.endswith("\n") else "\n") + text
    client.log_text(run_id, text, path.name)


def _run_key(opts: _Options, config_fp: str, overrides_fp: str, identity_fp: str | None) -> tuple[str, str]:
    """The tag, and its value, that identify the job's run."""
    from hydraflow.tracking import store

    if identity_fp is not None:
        return IDENTITY_TAG, identity_fp
    if opts.match_overrides:
        return store.OVERRIDES_TAG, overrides_fp
    return store.FINGERPRINT_TAG, config_fp


def _log_same_identity(job_name: str, identity: tuple[str, ...], existing: Run) -> None:
    log.info(
        "hydraflow: job %s has the identity (%s) of FINISHED run %s but another config: the run is kept as "
        "it is (pass rerun_finished=True to run it again with this config)",
        job_name,
        ", ".join(identity),
        existing.info.run_id,
    )


def _start_dir(hc: Any) -> str:
    """The directory the app was started from (Hydra's ``runtime.cwd``; the working directory if unset)."""
    cwd = str(hc.runtime.cwd)
    return cwd if Path(cwd).is_dir() else str(Path.cwd())


@contextlib.contextmanager
def _working_dir(path: str) -> Iterator[None]:
    old = Path.cwd()
    if Path(path) == old:
        yield
        return
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def _maybe_chdir(run: Run | None) -> Iterator[None]:
    if run is None:
        yield
        return
    from hydraflow.store.uri import local_path

    path = local_path(run.info.artifact_uri)
    if path is None:
        msg = f"chdir=True needs a local artifact location; run {run.info.run_id} has {run.info.artifact_uri}"
        raise ValueError(msg)
    path.mkdir(parents=True, exist_ok=True)
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _encode_return(value: Any) -> str | None:
    if value is None:
        return None
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return None
    return text if len(text) <= _MAX_TAG_VALUE else None


def _stored_return(run: Run) -> Any:
    from hydraflow.tracking.store import RETURN_TAG

    return decode_return(run.data.tags.get(RETURN_TAG))


def flatten_params(cfg: Any) -> dict[str, str]:
    """The resolved config as MLflow params: dot-joined keys, string values (lists as JSON-like text).

    Keys longer than MLflow's 250 characters are skipped; values are cut to 6000 characters (the whole config
    is always in the ``.hydra/config.yaml`` artifact).
    """
    from omegaconf import DictConfig, OmegaConf

    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
            return
        if not prefix:
            return
        if len(prefix) > _MAX_KEY:
            log.warning(
                "hydraflow: param key longer than %d characters not logged: %s...", _MAX_KEY, prefix[:60]
            )
            return
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value, default=str)
            if isinstance(value, (list, dict))
            else str(value)
        )
        if len(text) > _MAX_PARAM_VALUE:
            log.warning("hydraflow: param %s cut to %d characters", prefix, _MAX_PARAM_VALUE)
            text = text[:_MAX_PARAM_VALUE]
        out[prefix] = text

    walk("", data)
    return out

"""What a forked child of :mod:`hydraflow.launch.pool` sends back: its pickled JobReturn, or its error.

A child pickles its :class:`~hydra.core.utils.JobReturn` on its own (with cloudpickle when plain pickle
cannot), so that a return value or exception that cannot be sent is reported, never lost.
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

from hydraflow.launch.common import JobFailedError


def dumps(obj: Any) -> bytes:
    """Pickle ``obj``; with cloudpickle when plain pickle cannot (lambdas, local classes)."""
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    # pickling raises whatever the object's __reduce__ raises (PicklingError, TypeError, AttributeError...)
    except Exception:  # noqa: BLE001
        import cloudpickle

        data: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return data


def return_payload(ret: JobReturn, job_num: int) -> dict[str, Any]:
    """Pickle the JobReturn on its own so an unpicklable return value is reported, not lost."""
    try:
        return {"ret": dumps(ret)}
    except Exception as exc:  # noqa: BLE001 - cloudpickle too raises whatever the objects raise: reported
        what = "return value" if ret.status == JobStatus.COMPLETED else "exception"
        error = JobFailedError(
            f"job #{job_num} finished ({ret.status.name}) but its {what} cannot be sent back to the "
            f"launcher: {type(exc).__name__}: {exc}; {what}: {ret._return_value!r:.500}"  # noqa: SLF001
        )
        ret.status = JobStatus.FAILED
        ret.return_value = error
        return {"ret": dumps(ret)}


def error_payload(exc: BaseException, job_num: int) -> dict[str, Any]:
    """The error of a child that could not run its job: traceback text, and the exception if it pickles."""
    text = "".join(traceback.format_exception(exc))
    if not isinstance(exc, Exception):
        exc = JobFailedError(f"job #{job_num} raised {exc!r}")
    try:
        blob: bytes | None = dumps(exc)
    except Exception:  # noqa: BLE001 - an exception that cannot be pickled: its traceback text remains
        blob = None
    return {"error": text, "exc": blob}


def unpickle_return(payload: dict[str, Any]) -> JobReturn | None:
    """The JobReturn a child sent (a FAILED one for its exception), or None when there is none."""
    blob = payload.get("ret")
    if blob is not None:
        try:
            ret = pickle.loads(blob)  # noqa: S301 - our own child's bytes
        # unpickling raises whatever the pickled classes raise (or an import error here): the job FAILED
        except Exception as exc:  # noqa: BLE001
            ret = JobReturn(
                status=JobStatus.FAILED,
                _return_value=JobFailedError(f"the job's result could not be unpickled: {exc!r}"),
            )
        return ret if isinstance(ret, JobReturn) else None
    blob = payload.get("exc")
    if blob is None:
        return None
    try:
        error = pickle.loads(blob)  # noqa: S301 - our own child's bytes
    except Exception:  # noqa: BLE001 - as above; the error text of the payload is reported instead
        return None
    if not isinstance(error, BaseException):
        return None
    return JobReturn(status=JobStatus.FAILED, _return_value=error)


__all__ = ["dumps", "error_payload", "return_payload", "unpickle_return"]

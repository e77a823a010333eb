"""What a job on another machine sends back, readable: its code's real file names, its traceback, its logs.

- :func:`dump` pickles the task function with its code objects' real file names. cloudpickle (>= 3.1) writes
  ``<dynamic-code>`` as the file of every function it pickles by value (the app's ``@hydra.main`` function
  lives in ``__main__``), so a job's traceback on the cluster named no file and showed no source line.
- :func:`keep_traceback` (on the worker) and :func:`restore_traceback` (in the controller) carry a failed
  job's traceback and log paths across the result pickle, which keeps an exception but not its traceback: the
  controller's error is then chained to the job's own traceback (as ``concurrent.futures`` does it).
"""

from __future__ import annotations

import copyreg
import marshal
import traceback
import types
from collections import ChainMap
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn

__all__ = ["RemoteTraceback", "dump", "keep_traceback", "restore_traceback"]

_ATTRIBUTE = "_hydraflow_remote_traceback"


def _reduce_code(code: types.CodeType) -> tuple[Any, tuple[bytes]]:
    """A code object as its ``marshal`` bytes: exact, file name and line numbers included."""
    return marshal.loads, (marshal.dumps(code),)


def dump(obj: object, file: BinaryIO) -> None:
    """``cloudpickle.dump`` keeping the real file names of the code it pickles by value.

    The worker runs the same Python (cloudpickle's bytecode requires it already), so the marshal format of
    its code objects is the same.
    """
    import cloudpickle

    class Pickler(cloudpickle.Pickler):  # type: ignore[misc]  # the table is read when a pickler is made
        dispatch_table: ClassVar[ChainMap[Any, Any]] = ChainMap(
            {types.CodeType: _reduce_code},
            getattr(cloudpickle.Pickler, "dispatch_table", copyreg.dispatch_table),
        )

    Pickler(file).dump(obj)


class RemoteTraceback(Exception):  # noqa: N818 - the text of a traceback, shown as the cause of an error
    """The traceback of a job's error as it happened on the worker, with the job's log files."""

    def __init__(self, text: str) -> None:
        """Keep the text."""
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        """The traceback between quotes, as ``concurrent.futures`` shows a worker's."""
        return f'\n"""\n{self.text.rstrip()}\n"""'


def keep_traceback(ret: JobReturn, logs: tuple[str, str] | None) -> None:
    """On the worker: store a failed job's traceback and log paths inside its exception (pickled with it).

    ``logs``: the job's stdout and stderr files (None when its output went to the launcher's terminal).
    """
    error = ret._return_value  # noqa: SLF001
    if not isinstance(error, BaseException) or error.__traceback__ is None:
        return
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if logs is not None:
        text += f"logs of the job: {logs[0]} {logs[1]}\n"
    try:
        setattr(error, _ATTRIBUTE, text)
    except (AttributeError, TypeError):  # an exception without a __dict__: its message still goes back
        return


def restore_traceback(ret: JobReturn) -> None:
    """In the controller: chain a failed job's exception to the traceback it had on the worker."""
    error = ret._return_value  # noqa: SLF001
    text = getattr(error, _ATTRIBUTE, None)
    if isinstance(error, BaseException) and isinstance(text, str) and error.__cause__ is None:
        error.__cause__ = RemoteTraceback(text)

"""A Hydra app that a cluster test runs as a real subprocess, with its scheduler commands counted.

The app is written to ``tmp/app.py``; it records what its jobs did in ``tmp/marks`` (the ``MARKS``
variable). A directory of wrapper scripts first on ``PATH`` appends each scheduler command's name to
``tmp/calls.log`` before running the real one, so a test can say "the rerun ran no ``sbatch``".
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path


T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``predicate`` until it is truthy (returned) or ``timeout`` seconds passed (the test fails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def counting_wrappers(bindir: Path, calls: Path, tools: Iterable[str], search_path: str) -> None:
    """A wrapper per tool found on ``search_path``: it logs its name to ``calls``, then runs the real one."""
    bindir.mkdir()
    for tool in tools:
        real = shutil.which(tool, path=search_path)
        if real is None:
            continue
        wrapper = bindir / tool
        wrapper.write_text(f'#!/bin/sh\necho {tool} >> "{calls}"\nexec "{real}" "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)


class AppController:
    """The app ``source`` in ``tmp``, run with ``-m`` as a real subprocess.

    Args:
        tmp: The test's directory (the app, its marks, the wrappers and the sweeps go there).
        source: The app's code.
        tools: The scheduler commands to count.
        fixed: Arguments every run gets after ``hydra.sweep.dir`` (the launcher and its fast settings).
        extra_path: A directory searched before ``PATH`` for the tools, and put on the app's ``PATH``.
        env: Variables added to (or, with None, removed from) the app's environment.
    """

    def __init__(
        self,
        tmp: Path,
        source: str,
        *,
        tools: Iterable[str],
        fixed: Iterable[str] = (),
        extra_path: str = "",
        env: dict[str, str | None] | None = None,
    ) -> None:
        """Write the app and the wrappers; nothing runs yet."""
        self.tmp = tmp
        self.marks = tmp / "marks"
        self.marks.mkdir()
        self.app = tmp / "app.py"
        self.app.write_text(source)
        self.calls = tmp / "calls.log"
        self.fixed = list(fixed)
        bindir = tmp / "bin"
        path = os.pathsep.join(p for p in (extra_path, os.environ["PATH"]) if p)
        counting_wrappers(bindir, self.calls, tools, path)
        self.env = {**os.environ, "MARKS": str(self.marks), "PATH": f"{bindir}{os.pathsep}{path}"}
        for key, value in (env or {}).items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value

    def cmd(self, *args: str, sweep: str = "sweep") -> list[str]:
        """The app's command line: a multirun into ``tmp/<sweep>`` with the fixed arguments, then ``args``."""
        return [
            sys.executable,
            str(self.app),
            "-m",
            f"hydra.sweep.dir={self.tmp / sweep}",
            *self.fixed,
            *args,
        ]

    def run(self, *args: str, sweep: str = "sweep", timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the app to its end; stdout and stderr captured."""
        return subprocess.run(
            self.cmd(*args, sweep=sweep),
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str, sweep: str = "sweep") -> subprocess.Popen[str]:
        """Start the app; its output (stderr into stdout) on a pipe."""
        return subprocess.Popen(
            self.cmd(*args, sweep=sweep),
            cwd=self.tmp,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def count(self, tool: str) -> int:
        """How many times ``tool`` ran since the start (or :meth:`reset_calls`)."""
        return self.calls.read_text().split().count(tool) if self.calls.exists() else 0

    def reset_calls(self) -> None:
        """Forget the commands counted so far."""
        self.calls.unlink(missing_ok=True)

    def started(self, a: int, run: int = 0, timeout: float = 180) -> str:
        """What job ``a`` wrote at its ``run``-th start (``marks/<a>.start.<run>``), once it has started."""
        mark = self.marks / f"{a}.start.{run}"
        wait_for(mark.exists, timeout, f"job a={a} to start")
        return mark.read_text()

    def scripts(self) -> list[str]:
        """The submission scripts of the default sweep."""
        return [p.read_text() for p in sorted((self.tmp / "sweep").rglob("*_submission.sh"))]

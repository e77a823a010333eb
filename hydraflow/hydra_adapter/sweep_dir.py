"""The sweep directory of a multirun: created with its ``multirun.yaml``, taken back if nothing ran.

A sweep whose first batch fails before anything ran (the scheduler refuses the job array, ``sbatch`` rejects
a partition, the launcher cannot start) would leave a directory holding only ``multirun.yaml`` and empty
folders: a "run" with no job in it. :class:`SweepDir` remembers which directories the sweep created and, when
the first batch fails and the sweep directory holds nothing but what the sweep itself wrote, removes them.
Anything a job or a submission left (a job directory, a scheduler log, a submission script) keeps the whole
directory, so that what happened can be read.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

MULTIRUN_YAML = "multirun.yaml"


class SweepDir:
    """``hydra.sweep.dir``, created with ``multirun.yaml`` by :meth:`create`; :meth:`discard_if_untouched`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """The sweep directory ``path`` (not created yet)."""
        self.path = Path(path)
        self.created: list[Path] = []  # the directories create() made, outermost first

    def create(self, config: DictConfig) -> None:
        """Create the directory (and its missing parents); write the sweep's config to ``multirun.yaml``."""
        from omegaconf import OmegaConf

        missing = []
        for directory in (self.path, *self.path.parents):
            if directory.exists():
                break
            missing.append(directory)
        self.path.mkdir(parents=True, exist_ok=True)
        self.created = missing[::-1]
        OmegaConf.save(config, self.path / MULTIRUN_YAML)

    def discard_if_untouched(self) -> bool:
        """Remove ``multirun.yaml`` and the directories :meth:`create` made, if nothing else was written.

        Empty folders (a submitit folder whose files were taken back) do not count as written. Returns whether
        the directory was removed.

        >>> import tempfile
        >>> from omegaconf import OmegaConf
        >>> root = Path(tempfile.mkdtemp())
        >>> sweep = SweepDir(root / "multirun" / "2026-12-01" / "12-00-00")
        >>> sweep.create(OmegaConf.create({"a": 1}))
        >>> (sweep.path / ".submitit").mkdir()
        >>> sweep.discard_if_untouched(), sorted(p.name for p in root.iterdir())
        (True, [])
        >>> sweep.create(OmegaConf.create({"a": 1}))
        >>> (sweep.path / "0").mkdir(); (sweep.path / "0" / "app.log").write_text("")
        0
        >>> sweep.discard_if_untouched(), sorted(p.name for p in sweep.path.iterdir())
        (False, ['0', 'multirun.yaml'])
        """
        if not self.created or not _only_multirun_yaml(self.path):
            return False
        for parent, subdirs, _files in os.walk(self.path, topdown=False):
            for name in subdirs:
                with contextlib.suppress(OSError):
                    (Path(parent) / name).rmdir()
        with contextlib.suppress(OSError):
            (self.path / MULTIRUN_YAML).unlink()
        for directory in reversed(self.created):
            with contextlib.suppress(OSError):
                directory.rmdir()
            if directory.exists():  # not empty after all (another process wrote there): keep it, and parents
                return False
        self.created = []
        return True


def _only_multirun_yaml(path: Path) -> bool:
    """Whether ``path`` holds ``multirun.yaml`` and empty folders, nothing else (links count as written)."""
    for directory, subdirs, files in os.walk(path):
        if any(Path(directory, name) != path / MULTIRUN_YAML for name in files):
            return False
        if any(Path(directory, name).is_symlink() for name in subdirs):
            return False
    return (path / MULTIRUN_YAML).is_file()


__all__ = ["MULTIRUN_YAML", "SweepDir"]

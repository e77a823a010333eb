"""Every HYDRAFLOW_* environment setting: one module reads them, at call time; one docs table lists them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hydraflow import settings
from hydraflow.analysis.run import default_n_jobs
from hydraflow.tracking.store import lock_dir

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"HYDRAFLOW_[A-Z0-9_]+")
# Modules of other packages that still read their HYDRAFLOW_* variables themselves; they are to call the
# accessors of hydraflow.settings (pbs_array, pbs_signal_delay_s, pbs_stderr_to_stdout) instead.
PENDING = {"hydraflow/launch/pbs/_executor.py"}


def _names_used() -> dict[str, set[str]]:
    """HYDRAFLOW_* names found in the package, the benchmarks and the noxfile -> files using them."""
    found: dict[str, set[str]] = {}
    files = [*(ROOT / "hydraflow").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"), ROOT / "noxfile.py"]
    for path in files:
        for name in NAME.findall(path.read_text()):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_setting_is_declared_once_and_documented() -> None:
    declared = [s.name for s in settings.SETTINGS]
    assert len(declared) == len(set(declared))
    assert set(_names_used()) <= set(declared), set(_names_used()) - set(declared)
    table = (ROOT / "docs" / "settings.md").read_text()
    documented = re.findall(r"^\| `(HYDRAFLOW_[A-Z0-9_]+)` \|", table, re.MULTILINE)
    assert documented == declared  # same names, same order as hydraflow.settings.SETTINGS


def test_only_the_settings_module_reads_the_environment_for_them() -> None:
    offenders = []
    for path in [*(ROOT / "hydraflow").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        rel = str(path.relative_to(ROOT))
        if rel == "hydraflow/settings.py" or rel in PENDING:
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if ("environ" in line or "getenv" in line) and ("HYDRAFLOW" in line or "ENV_" in line):
                offenders.append(f"{rel}:{lineno}: {line.strip()}")
    assert not offenders, offenders


def test_values_are_read_when_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HYDRAFLOW_LOCK_DIR", raising=False)
    monkeypatch.delenv("HYDRAFLOW_N_JOBS", raising=False)
    assert lock_dir("http://127.0.0.1:5000", str(tmp_path / "art" / "1")) == tmp_path / ".hydraflow-locks"
    monkeypatch.setenv("HYDRAFLOW_LOCK_DIR", str(tmp_path / "shared"))
    assert lock_dir("http://127.0.0.1:5000", None) == tmp_path / "shared"
    monkeypatch.setenv("HYDRAFLOW_N_JOBS", "7")
    assert default_n_jobs() == 7
    monkeypatch.setenv("HYDRAFLOW_STORE_RETRY_SECONDS", "2.5")
    assert settings.store_retry_seconds() == 2.5
    monkeypatch.setenv("HYDRAFLOW_CACHE_DIR", str(tmp_path / "cache"))
    assert settings.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("HYDRAFLOW_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.cache_dir() == tmp_path / "xdg" / "hydraflow"
    for value, expected in (("1", True), ("TRUE", True), (" on ", True), ("0", False), ("no", False)):
        monkeypatch.setenv("HYDRAFLOW_SQLITE_INDEX", value)
        assert settings.sqlite_index() is expected


@pytest.mark.parametrize(
    ("name", "value", "read", "expected"),
    [
        ("HYDRAFLOW_N_JOBS", "0", settings.n_jobs, "a positive integer"),
        ("HYDRAFLOW_N_JOBS", "2.5", settings.n_jobs, "a positive integer"),
        ("HYDRAFLOW_STORE_RETRY_SECONDS", "soon", settings.store_retry_seconds, "a number >= 0"),
        ("HYDRAFLOW_DRY_RUN", "maybe", settings.dry_run, "1/true/yes/on or 0/false/no/off"),
        ("HYDRAFLOW_PBS_SIGNAL_DELAY_S", "-1", settings.pbs_signal_delay_s, "a number >= 0"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read: object, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingError, match=re.escape(f"{name}={value!r}: expected {expected}")):
        read()  # type: ignore[operator]

"""HydraFlow 0.23's own ``tests/core`` run unchanged against this project: how many of its 281 tests pass.

HydraFlow's test files are copied from a HydraFlow 0.23 source tree (``--source``: a checkout of
github.com/daizutabi/hydraflow at v0.23.x, or its unpacked sdist) into a fresh temporary directory, never into
this repository. Nothing in them is changed: their ``hydraflow.core.<module>`` imports (and the
``mocker.patch("hydraflow.core....")`` targets) resolve to ``hydraflow.core``, this project's package of
HydraFlow's module names, which only re-exports names defined elsewhere in hydraflow.

The interpreter (``--python``, default: this one) must have hydraflow installed, plus what HydraFlow's suite
needs: Python >= 3.13 (its tests use PEP 695 generics), ``pytest-mock`` and ``polars``. ``nox -s compat`` makes
such an environment and runs this script in it.

    python benchmarks/hydraflow_suite.py --source ~/src/hydraflow-0.23.1 [--json out.json] [-- -k test_run]

Prints ``<passed> of <run> passed`` and every failure with the first line of its reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

PYTEST_INI = """\
[pytest]
addopts = -p no:cacheprovider -p no:randomly
filterwarnings =
    ignore:The filesystem tracking backend.*:FutureWarning:mlflow
    ignore:codecs.*:DeprecationWarning:mlflow.*
"""


def prepare(source: Path, dest: Path) -> None:
    """Copy HydraFlow's ``tests/__init__.py`` and ``tests/core`` under ``dest``, with a pytest.ini of its own."""
    tests = dest / "tests"
    tests.mkdir(parents=True)
    shutil.copy(source / "tests" / "__init__.py", tests / "__init__.py")
    shutil.copytree(source / "tests" / "core", tests / "core")
    (dest / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")


def summarize(xml: Path) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """Passed, failed (with the first line of the reason) and skipped tests of a JUnit XML report."""
    root = ET.parse(xml).getroot()  # noqa: S314 (pytest's own report)
    passed: list[str] = []
    failed: list[dict[str, str]] = []
    skipped: list[str] = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        name = name.replace("tests/core/", "", 1)
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if case.find("skipped") is not None:
            skipped.append(name)
        elif problem is not None:
            lines = (problem.get("message") or problem.text or "").strip().splitlines()
            failed.append({"test": name, "reason": lines[0][:200] if lines else ""})
        else:
            passed.append(name)
    return passed, failed, skipped


def main() -> int:
    """Run the suite; print the count and the failures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source", type=Path, default=os.environ.get("HF023_SRC"), help="HydraFlow 0.23 source"
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter with hydraflow installed")
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args, pytest_args = parser.parse_known_args()
    pytest_args = [a for a in pytest_args if a != "--"]
    if args.source is None or not (args.source / "tests" / "core").is_dir():
        parser.error(
            f"--source (or HF023_SRC) must be a HydraFlow 0.23 source tree with tests/core: {args.source}"
        )

    work = Path(tempfile.mkdtemp(prefix="hydraflow-suite-"))
    prepare(args.source, work)
    xml = work / "junit.xml"
    env = dict(os.environ)
    # HydraFlow's tests use ./mlruns, which MLflow >= 3.7 refuses without this
    env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [args.python, "-m", "pytest", "tests/core", "-q", f"--junitxml={xml}", *pytest_args]
    print("$", " ".join(cmd), f"(in {work})", flush=True)
    proc = subprocess.run(cmd, cwd=work, env=env, check=False, capture_output=True, text=True)
    if not xml.exists():
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return 2
    passed, failed, skipped = summarize(xml)
    print(f"HydraFlow 0.23 tests/core on hydraflow: {len(passed)} of {len(passed) + len(failed)} passed")
    print(f"({len(skipped)} skipped by the suite itself)")
    for f in failed:
        print(f"  FAILED {f['test']}: {f['reason']}")
    if args.json:
        args.json.write_text(
            json.dumps({"passed": passed, "failed": failed, "skipped": skipped}, indent=1), encoding="utf-8"
        )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

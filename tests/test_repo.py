"""Repository-level invariants: CI runs the README's test command, the plugin namespace stays cheap and open."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("mlflow", "submitit", "pyarrow", "pandas", "polars")


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick, re.DOTALL)
    assert block, "README quick start has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_quick_start_is_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith("nox -s demo")
    assert commands[1].endswith("nox -s tests")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = _readme_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_hydra_plugins_is_a_namespace_package() -> None:
    assert not (ROOT / "hydra_plugins" / "__init__.py").exists()


def test_plugin_modules_have_no_heavy_top_level_imports() -> None:
    offenders = []
    for path in (ROOT / "hydra_plugins").rglob("*.py"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(rf"^(import|from) ({'|'.join(HEAVY)})\b", line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line}")
    assert not offenders, offenders


def test_plugin_scan_imports_nothing_heavy() -> None:
    """Import every plugin module the way Hydra's scan does and check no heavy library got loaded."""
    code = (
        "import sys, importlib, pkgutil\n"
        "import hydra_plugins\n"
        "for m in pkgutil.walk_packages(hydra_plugins.__path__, 'hydra_plugins.'):\n"
        "    if m.name.split('.')[1].startswith('hydraflow'):\n"
        "        importlib.import_module(m.name)\n"
        f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_import_hydraflow_is_light() -> None:
    code = f"import sys, hydraflow, hydraflow.sweep\nprint(sorted(h for h in {(*HEAVY, 'hydra')!r} if h in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_docs_nav_pages_exist() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = [next(iter(item.values())) for item in config["nav"]]
    missing = [p for p in pages if not (ROOT / "docs" / p).is_file()]
    assert not missing, f"pages listed in mkdocs.yml nav but missing from docs/: {missing}"


def test_public_names_resolve() -> None:
    import hydraflow

    assert set(hydraflow.__all__) - {"__version__"} == set(hydraflow._LAZY)
    for name in hydraflow._LAZY:
        assert getattr(hydraflow, name) is not None, name


def _distribution_name(requirement: str) -> str:
    name = re.split(r"[\s;\[<>=!~]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_is_a_declared_dependency() -> None:
    """Each library imported by hydraflow/ or hydra_plugins/ is in pyproject's dependencies or an extra."""
    import ast
    import importlib.metadata

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_distribution_name(r) for r in project["dependencies"]}
    declared |= {_distribution_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    own = {"hydraflow", "hydra_plugins"}
    imported: dict[str, str] = {}
    for path in sorted([*(ROOT / "hydraflow").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in own:
                    imported.setdefault(top, str(path.relative_to(ROOT)))
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        top: where
        for top, where in imported.items()
        if not {_distribution_name(d) for d in providers.get(top, [top])} & declared
    }
    assert "yaml" in imported, "the import scan found nothing: is it looking at the right files?"
    assert not undeclared, f"imported but not declared in pyproject.toml (module: first file): {undeclared}"


def _module_map() -> set[str]:
    """The paths listed in CONTRIBUTING.md's module map (folders end with ``/``), rebuilt from the indentation."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    block = text.split("## Module map", 1)[1].split("```", 2)[1]
    paths: set[str] = set()
    stack: list[str] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        del stack[depth:]
        paths.add("".join(stack) + name)
        if name.endswith("/"):
            stack.append(name)
    return paths


def test_contributing_module_map_lists_every_module() -> None:
    listed = _module_map()
    modules = [
        str(p.relative_to(ROOT))
        for top in ("hydraflow", "hydra_plugins")
        for p in (ROOT / top).rglob("*.py")
        if p.name != "__init__.py" or p.parent.name == "hydraflow"
    ]
    missing = sorted(m for m in modules if m not in listed)
    assert not missing, f"modules missing from CONTRIBUTING.md's module map: {missing}"
    stale = sorted(p for p in listed if p.endswith(".py") and not (ROOT / p).exists())
    assert not stale, f"CONTRIBUTING.md's module map lists modules that do not exist: {stale}"


def test_xdist_loadgroup_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    """`nox -s tests` relies on `--dist loadgroup` to run each cluster's tests on one worker (tests/conftest.py
    CLUSTER_GROUPS); pytest 9.2 with pytest-xdist 3.8 silently stopped grouping, and cluster tests then ran side
    by side on one cluster and disturbed each other."""
    pytest.importorskip("xdist")
    (tmp_path / "test_group.py").write_text(
        "import os, pathlib, pytest\n"
        "pytestmark = pytest.mark.xdist_group('one')\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_x(i):\n"
        "    pathlib.Path(f'w{i}').write_text(os.environ['PYTEST_XDIST_WORKER'])\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "3",
            "--dist",
            "loadgroup",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            "test_group.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = {p.read_text() for p in tmp_path.glob("w*")}
    assert len(list(tmp_path.glob("w*"))) == 6
    assert len(workers) == 1, f"one xdist group ran on several workers: {sorted(workers)}"

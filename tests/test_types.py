"""The type checker: mypy, run as ``[tool.mypy]`` in pyproject.toml sets it up, finds no error in
``src/callwatch``; the package says it is typed (PEP 561 ``py.typed``, shipped in the wheel).

mypy keeps its incremental cache in the repository's ``.mypy_cache`` (git ignores it), so a
run after the first reads only what changed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "callwatch"


def test_mypy_finds_no_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"mypy src/callwatch (exit {proc.returncode}):\n{report}", pytrace=False)
    # the whole package was read, not a part of it
    checked = re.search(r"no issues found in (\d+) source files", proc.stdout)
    assert checked, report
    assert int(checked.group(1)) == len(list(PACKAGE.rglob("*.py")))


def test_package_ships_py_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["callwatch"]

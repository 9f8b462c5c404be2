"""Opt-in compiled core: ``CALLWATCH_COMPILE=1 pip install .`` (see docs/compiled-core.md).

Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup

# The per-packet chain, from capture to verdicts (build_backend/core_modules.py derives it from
# the imports). Each module must pass mypy; the test suite runs the same fixtures through the
# compiled and the interpreted core and compares the output.
sys.path.insert(0, str(Path(__file__).resolve().parent / "build_backend"))
from core_modules import core_files

CORE = core_files(Path("src"))


def _extensions() -> list:
    if os.environ.get("CALLWATCH_COMPILE", "").strip() not in ("1", "true", "yes"):
        return []
    if "editable_wheel" in sys.argv:
        sys.exit("callwatch: CALLWATCH_COMPILE is for `pip install .`, not editable installs")
    try:
        from mypyc.build import mypycify
    except ImportError:
        if {"egg_info", "dist_info"} & set(sys.argv):
            return []  # asking for build requirements: the backend adds mypy
        sys.exit("callwatch: CALLWATCH_COMPILE=1 needs mypy (mypyc) in the build environment")
    # Modules outside CORE are read for their types only; the build environment has mypy
    # but not the runtime dependencies, whose types are taken as unknown.
    flags = ["--follow-imports=silent", "--ignore-missing-imports"]
    return mypycify([*flags, *CORE], opt_level="3")


setup(ext_modules=_extensions())

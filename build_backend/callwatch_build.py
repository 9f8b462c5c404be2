"""The build backend: setuptools, plus mypy when a compiled core is asked for.

``CALLWATCH_COMPILE=1 pip install .`` builds the hot core (capture → SIP → calls → verdicts,
listed in ``setup.py``) with mypyc into C extensions; without it the package is pure Python.
This wrapper only adds mypy to the build requirements in the compiled case, so a plain
install never downloads it.
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the PEP 517/660 hooks, re-exported)

MYPY = "mypy>=1.11"


def _compile() -> bool:
    return os.environ.get("CALLWATCH_COMPILE", "").strip() in ("1", "true", "yes")


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    """setuptools' requirements, plus mypy (for mypyc) when compiling."""
    requires = _setuptools.get_requires_for_build_wheel(config_settings)
    return [*requires, MYPY] if _compile() else requires


def get_requires_for_build_editable(
    config_settings: dict[str, Any] | None = None,
) -> list[str]:
    """An editable install is never compiled (an extension would shadow the edited source)."""
    return _setuptools.get_requires_for_build_editable(config_settings)

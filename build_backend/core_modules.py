"""Which modules the compiled build compiles: derived from the source, not listed by hand.

The per-packet chain is what ``callwatch.pipeline`` (the sans-IO core), the capture readers
``callwatch.capture.hep`` and ``callwatch.capture.pcap`` and the packet journal
``callwatch.journal`` (written for every live packet before the core sees it) import,
transitively, within callwatch (package ``__init__`` files excluded), but the ``errors``
modules: exception hierarchies that also derive from builtin exceptions do not compile, and
raising is not the hot path. A module added to that chain is compiled without anyone editing
a list; ``setup.py`` and ``tests/test_compiled_core.py`` both read it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOTS = (
    "callwatch.pipeline",
    "callwatch.capture.hep",
    "callwatch.capture.pcap",
    "callwatch.journal",
)
INTERPRETED = ("errors",)
"""Leaf names of chain modules left interpreted (see the module docstring)."""


def _file(src: Path, name: str) -> Path | None:
    path = src.joinpath(*name.split(".")).with_suffix(".py")
    return path if path.is_file() else None


def _imports(src: Path, name: str, path: Path) -> set[str]:
    package = name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [[a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            candidates = [[f"{base}.{a.name}", base] for a in node.names]
        else:
            continue
        for choice in candidates:  # ``from pkg import mod`` names a module, else ``pkg.mod``
            module = next((c for c in choice if c.startswith("callwatch.") and _file(src, c)), None)
            if module is not None:
                found.add(module)
    return found


def core_modules(src: Path) -> list[str]:
    """The module names of the per-packet chain under ``src`` (a ``src/`` layout), sorted."""
    seen: set[str] = set()
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        path = _file(src, name)
        if name in seen or path is None:
            continue
        seen.add(name)
        todo.extend(_imports(src, name, path) - seen)
    return sorted(name for name in seen if name.rpartition(".")[2] not in INTERPRETED)


def core_files(src: Path) -> list[str]:
    """The same as source paths relative to the project (``src/callwatch/...py``)."""
    return [f"{src.name}/{name.replace('.', '/')}.py" for name in core_modules(src)]

"""Import contracts (docs/architecture.md): the core is closed, the layers point one way, and no
module of callwatch imports another in a circle.

The import graph is read from the source with :mod:`ast` (every ``import`` and ``from ...
import``, in function bodies too, but not under ``if TYPE_CHECKING``), so a contract broken in
a rarely used function fails here, not in production.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

CORE = ("callwatch.sip", "callwatch.calls", "callwatch.charter")
CORE_MODULES = {
    "callwatch",
    "callwatch.pipeline",
    "callwatch.packet",
    "callwatch.site",
    "callwatch.fieldpickle",
    "callwatch.frozen",
}
"""The sans-IO core: these packages and modules, nothing else."""

TOP = {"callwatch.cli", "callwatch.service", "callwatch.demo", "callwatch.scaleout"}
"""The wiring: what only the command line and the service may import."""

LAZY_IMPORTS_ALLOWED = {
    "callwatch": "core_build() loads the core only when asked",
    "callwatch.cli": "each subcommand imports its stack (start-up of --help)",
    "callwatch.reports.command": "cli imports it for its arguments",
    "callwatch.reports.schedule": "config imports it to check [reports]",
    "callwatch.probe.command": "cli imports it for its arguments (pyVoIP only when run)",
}
"""Modules allowed imports in function bodies, and why (each says so in its docstring)."""


def is_core(name: str) -> bool:
    return name in CORE_MODULES or name.startswith(tuple(p + "." for p in CORE)) or name in CORE


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "callwatch").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if "migrations" in parts:
            continue  # Alembic scripts, loaded by Alembic
        found[".".join(parts)] = path
    return found


MODULES = modules()


def resolve(name: str) -> str | None:
    """The callwatch module an import names (an imported attribute resolves to its module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(name: str) -> tuple[set[str], set[str]]:
    """(module-level imports, function-body imports) of callwatch modules by ``name``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top: set[str] = set()
    inner: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.If)
                and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"
            ):
                continue
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in child.names] or [base]
            for target in targets:
                if target.startswith("callwatch"):
                    module = resolve(target)
                    if module and module != name:
                        (inner if in_function else top).add(module)
            function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, in_function or function)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return top, inner


GRAPH = {name: imports(name) for name in MODULES}


def edges(name: str) -> set[str]:
    """What importing ``name`` runs: its imports and the packages above them (but its own
    packages, which are already importing when it runs, unless it imports one by name)."""
    top, inner = GRAPH[name]
    direct = top | inner
    out = set(direct)
    for target in direct:
        parts = target.split(".")
        out.update(".".join(parts[:k]) for k in range(2, len(parts)))
    return {m for m in out if m in MODULES and (m in direct or not name.startswith(m + "."))}


def cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges(v):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(MODULES):
        if v not in index:
            connect(v)
    return found


def test_no_module_imports_another_in_a_circle() -> None:
    assert cycles() == []


def test_the_core_imports_only_the_core() -> None:
    leaks = {
        name: sorted(m for m in top | inner if not is_core(m))
        for name, (top, inner) in GRAPH.items()
        if is_core(name) and any(not is_core(m) for m in top | inner)
    }
    assert leaks == {}


def test_only_the_command_line_and_the_service_import_the_wiring() -> None:
    wrong = {
        name: sorted((top | inner) & TOP)
        for name, (top, inner) in GRAPH.items()
        if name not in TOP and (top | inner) & TOP
    }
    assert wrong == {}


def test_function_body_imports_only_where_they_cut_start_up() -> None:
    lazy = {name for name, (_, inner) in GRAPH.items() if inner}
    assert lazy <= set(LAZY_IMPORTS_ALLOWED), sorted(lazy - set(LAZY_IMPORTS_ALLOWED))


def test_importing_the_pipeline_loads_the_core_and_the_standard_library_only() -> None:
    probe = "import json, sys\nimport callwatch.pipeline\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(SRC)},
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    ours = [m for m in loaded if m.split(".")[0] == "callwatch"]
    assert [m for m in ours if not is_core(m)] == []
    foreign = {m.split(".")[0] for m in loaded} - set(sys.stdlib_module_names) - {"callwatch"}
    foreign = {m for m in foreign if m != "__main__" and not m.startswith("_sysconfigdata")}
    assert foreign == set()
    io = {"socket", "ssl", "select", "sqlite3", "asyncio", "tomllib", "subprocess"}
    assert io.isdisjoint(loaded), sorted(io & set(loaded))

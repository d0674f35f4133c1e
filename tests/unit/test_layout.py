"""The rooms' rules, read from the code's own imports (every `import`, lazy ones included)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import chatport

PACKAGE = Path(chatport.__file__).parent


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Each chatport module -> the names it imports (chatport modules resolved to modules)."""
    modules = {_module_of(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    names.add(full if full in modules else base)
        graph[module] = names
    return graph


GRAPH = _imports()


def _internal(names: set[str]) -> set[str]:
    return {name for name in names if name in GRAPH}


def test_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in _internal(GRAPH[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_domain_imports_only_the_standard_library_and_msgspec() -> None:
    allowed = set(sys.stdlib_module_names) | {"msgspec", "__future__"}
    for module, names in GRAPH.items():
        if module.startswith("chatport.domain"):
            outside = {
                name
                for name in names
                if not name.startswith("chatport.domain") and name.split(".")[0] not in allowed
            }
            assert outside == set(), module


def _offenders(room: str, forbidden: str) -> dict[str, set[str]]:
    return {
        module: {name for name in names if name.startswith(forbidden)}
        for module, names in GRAPH.items()
        if module.startswith(room) and any(name.startswith(forbidden) for name in names)
    }


def test_the_store_imports_no_source() -> None:
    assert _offenders("chatport.store", "chatport.sources") == {}


def test_use_cases_engines_agent_and_live_do_not_import_the_composition_root() -> None:
    for room in ("chatport.ingest", "chatport.engines", "chatport.agent", "chatport.live"):
        assert _offenders(room, "chatport.bootstrap") == {}, room


def test_inner_rooms_do_not_import_outer_ones() -> None:
    """domain <- sources, store <- ingest, live, agent <- engines <- api, cli."""
    outer = {
        "chatport.domain": (
            "chatport.store",
            "chatport.sources",
            "chatport.ingest",
            "chatport.api",
        ),
        "chatport.sources": ("chatport.store", "chatport.ingest", "chatport.api", "chatport.cli"),
        "chatport.store": ("chatport.ingest", "chatport.live", "chatport.agent", "chatport.api"),
        "chatport.ingest": ("chatport.engines", "chatport.api", "chatport.cli", "chatport.live"),
        "chatport.live": ("chatport.api", "chatport.cli", "chatport.engines"),
        "chatport.agent": ("chatport.api", "chatport.cli", "chatport.engines"),
        "chatport.engines": ("chatport.api", "chatport.cli"),
    }
    for room, forbidden in outer.items():
        for name in forbidden:
            assert _offenders(room, name) == {}, (room, name)

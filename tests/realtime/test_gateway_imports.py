"""The gateway's module graph: per-connection state below the behaviour, and no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

REALTIME = Path(__file__).resolve().parents[2] / "realtime"
# Pure data that every behaviour module may import; it imports none of them.
# `realtime.connection` is the socket layer under a session: it imports no realtime module.
STATE_MAY_IMPORT = {
    "realtime.auth",
    "realtime.connection",
    "realtime.envelope",
    "realtime.protocol",
    "realtime.registry",
}


def realtime_imports(path: Path) -> set[str]:
    """The realtime modules a file imports, `from realtime import x` resolved to `realtime.x`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("realtime."))
        elif isinstance(node, ast.ImportFrom) and node.module == "realtime" and node.level == 0:
            found.update(f"realtime.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if node.module.startswith("realtime."):
                found.add(node.module)
    return found


def graph() -> dict[str, set[str]]:
    return {f"realtime.{p.stem}": realtime_imports(p) for p in REALTIME.glob("*.py")}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for dep in sorted(edges.get(module, ())):
            if dep in path:
                found.append(path[path.index(dep) :] + [dep])
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(module)

    for module in sorted(edges):
        if module not in done:
            visit(module, [module])
    return found


def test_no_import_cycle_among_the_gateway_modules() -> None:
    assert cycles(graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_session_state_imports_no_behaviour_module() -> None:
    assert graph()["realtime.state"] <= STATE_MAY_IMPORT


def test_the_socket_layer_imports_no_gateway_module() -> None:
    assert graph()["realtime.connection"] == set()


def test_no_gateway_module_hides_an_import_behind_type_checking() -> None:
    offenders = [p.name for p in REALTIME.glob("*.py") if "TYPE_CHECKING" in p.read_text()]
    assert offenders == []

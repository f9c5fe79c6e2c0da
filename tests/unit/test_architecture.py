"""The dependency rule, checked on the source: layers point inwards, contexts stay apart."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTEXTS = ("tenants", "projects", "tasks", "activity")
PURE_MODULES = ("domain", "commands", "events", "errors")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


def test_domain_modules_import_only_the_stdlib_and_the_kernel_domain() -> None:
    offenders = []
    for context in CONTEXTS:
        for module in PURE_MODULES:
            path = ROOT / "app" / context / f"{module}.py"
            if not path.exists():
                continue
            for name in imports_of(path):
                same_context = (
                    name.startswith(f"app.{context}.") and name.rsplit(".", 1)[-1] in PURE_MODULES
                )
                if not (is_stdlib(name) or name == "app.kernel.domain" or same_context):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_realtime_imports_nothing_from_app() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "realtime").rglob("*.py")
        for name in imports_of(path)
        if name == "app" or name.startswith("app.")
    ]
    assert offenders == []


def test_the_kernel_imports_no_bounded_context() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "app" / "kernel").rglob("*.py")
        for name in imports_of(path)
        if any(name == f"app.{c}" or name.startswith(f"app.{c}.") for c in CONTEXTS)
    ]
    assert offenders == []


def test_contexts_reach_each_other_only_through_public_api_or_events() -> None:
    allowed = ("api", "events", "schemas")
    offenders = []
    for context in CONTEXTS:
        for path in (ROOT / "app" / context).glob("*.py"):
            for name in imports_of(path):
                for other in CONTEXTS:
                    if other != context and name.startswith(f"app.{other}."):
                        if name.rsplit(".", 1)[-1] not in allowed:
                            offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []

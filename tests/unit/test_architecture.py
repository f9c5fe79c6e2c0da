"""The dependency rule, checked on the source: layers point inwards, contexts stay apart.

The rules are the import-linter contracts of pyproject.toml (`lint-imports` checks them in CI);
this test reads the same contracts and checks every direct import against them, so a broken rule
fails here too, even without import-linter installed. Imports are resolved the way Python
resolves them: `from app.projects import handlers` is an import of `app.projects.handlers`, and
relative imports count from the importing module's package.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ROOT_PACKAGES = ("app", "realtime")
CONTEXTS = ("tenants", "projects", "tasks", "activity", "notifications", "analytics")
PURE_MODULES = ("domain", "commands", "events", "errors")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Every module the file imports, `from package import module` and relative ones resolved."""
    return imports_in(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


def imports_in(source: str, module: str, *, is_package: bool = False) -> set[str]:
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                names.add(candidate if is_module(candidate) else base)
    return names


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


def source_files() -> Iterator[tuple[str, Path]]:
    for package in ROOT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield module_name(path), path


def edges() -> list[tuple[str, str]]:
    return [(module, name) for module, path in source_files() for name in imports_of(path)]


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _segments_match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_segments_match(rest, parts[n:]) for n in range(1, len(parts) + 1))
    return bool(parts) and head in ("*", parts[0]) and _segments_match(rest, parts[1:])


def ignored(importer: str, imported: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        source, _, target = (side.strip() for side in pattern.partition("->"))
        if _segments_match(source.split("."), importer.split(".")) and _segments_match(
            target.split("."), imported.split(".")
        ):
            return True
    return False


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert sorted(config["root_packages"]) == sorted(ROOT_PACKAGES)
    found: list[dict[str, Any]] = config["contracts"]
    return found


def contract(kind: str) -> list[dict[str, Any]]:
    found = [c for c in contracts() if c["type"] == kind]
    assert found, f"pyproject.toml has no {kind} contract"
    return found


def layer_of(name: str, layers: list[list[str]]) -> tuple[int, str] | None:
    """(layer index, the sibling the module belongs to), by the longest matching prefix."""
    best: tuple[int, str] | None = None
    for index, siblings in enumerate(layers):
        for sibling in siblings:
            if within(name, sibling) and (best is None or len(sibling) > len(best[1])):
                best = (index, sibling)
    return best


def parse_layers(lines: list[str]) -> tuple[list[list[str]], list[bool]]:
    layers, independent = [], []
    for line in lines:
        separator = "|" if "|" in line else ":"
        layers.append([part.strip() for part in line.split(separator)])
        independent.append(separator == "|")
    return layers, independent


def test_imports_are_resolved_as_python_resolves_them() -> None:
    source = "\n".join(
        [
            "from app.projects import handlers",
            "from app.projects import api as projects",
            "from app.kernel.domain import Actor",
            "from . import views",
            "from .. import projects as p",
            "from ..activity.api import recent",
        ]
    )
    assert imports_in(source, "app.tasks.routes") == {
        "app.projects.handlers",
        "app.projects.api",
        "app.kernel.domain",
        "app.tasks.views",
        "app.projects",
        "app.activity.api",
    }


def test_every_module_of_app_sits_in_a_layer() -> None:
    for layers_contract in contract("layers"):
        if layers_contract.get("id") != "layers":
            continue  # the contexts' order covers the contexts only
        layers, _ = parse_layers(layers_contract["layers"])
        loose = [
            module
            for module, _ in source_files()
            if module.startswith("app.")
            and layer_of(module, layers) is None
            and not is_module(module + ".__init__")
            and module != "app.kernel"
        ]
        assert loose == []


def test_layers_point_downwards_only() -> None:
    offenders = []
    for layers_contract in contract("layers"):
        layers, independent = parse_layers(layers_contract["layers"])
        patterns = layers_contract.get("ignore_imports", [])
        for importer, imported in edges():
            low, high = layer_of(importer, layers), layer_of(imported, layers)
            if low is None or high is None or ignored(importer, imported, patterns):
                continue
            upwards = high[0] < low[0]
            across = high[0] == low[0] and independent[low[0]] and high[1] != low[1]
            if upwards or across:
                offenders.append(f"{importer} imports {imported}")
    assert offenders == []


def test_independent_modules_import_each_other_only_where_allowed() -> None:
    offenders = []
    for independence in contract("independence"):
        modules = independence["modules"]
        patterns = independence.get("ignore_imports", [])
        for importer, imported in edges():
            mine = [m for m in modules if within(importer, m)]
            theirs = [m for m in modules if within(imported, m)]
            if mine and theirs and mine != theirs and not ignored(importer, imported, patterns):
                offenders.append(f"{importer} imports {imported}")
    assert offenders == []


def test_forbidden_imports_are_absent() -> None:
    offenders = []
    for forbidden in contract("forbidden"):
        patterns = forbidden.get("ignore_imports", [])
        for importer, imported in edges():
            if not any(within(importer, s) for s in forbidden["source_modules"]):
                continue
            if any(within(imported, f) for f in forbidden["forbidden_modules"]):
                if not ignored(importer, imported, patterns):
                    offenders.append(f"{importer} imports {imported}")
    assert offenders == []


def test_the_rules_of_the_style_guide_are_all_contracts() -> None:
    kinds = {(c["type"], tuple(c.get("source_modules", ()))) for c in contracts()}
    assert ("forbidden", ("realtime",)) in kinds
    pure = [f"app.{c}.{m}" for c in CONTEXTS for m in PURE_MODULES if is_module(f"app.{c}.{m}")]
    web_or_database = next(c for c in contract("forbidden") if c["source_modules"] != ["realtime"])
    assert sorted(web_or_database["source_modules"]) == sorted(pure)
    independent = contract("independence")[0]["modules"]
    assert all(f"app.{c}" in independent for c in CONTEXTS)


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
        if within(name, "app")
    ]
    assert offenders == []


def test_the_kernel_imports_no_bounded_context() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "app" / "kernel").rglob("*.py")
        for name in imports_of(path)
        if any(within(name, f"app.{c}") for c in CONTEXTS)
    ]
    assert offenders == []


def test_a_broken_rule_is_caught() -> None:
    """The checker itself: a `from package import module` across contexts is an offence."""
    assert "app.projects.handlers" not in {
        name for module, name in edges() if within(module, "app.tasks")
    }
    patterns = ["app.*.* -> app.*.api"]
    assert ignored("app.tasks.handlers", "app.projects.api", patterns)
    assert not ignored("app.tasks.handlers", "app.projects.handlers", patterns)

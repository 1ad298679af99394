"""The layout rules the code keeps: small files, no import cycle between the parts of ``portal/``,
and a Flask-free ``mdm_core/``. Read from the source with ``ast``, so a rule broken anywhere
(an import inside a function included) fails here."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_PORTAL_FILE_LINES = 350


def _modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package``."""
    base = ROOT / package
    modules = {}
    for path in base.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imported(module: str, path: Path) -> set[str]:
    """Every module ``module`` imports, absolute, wherever the import stands in the file."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _part(module: str) -> str | None:
    """The part of ``portal`` a module belongs to: its subpackage, or the top-level module itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == "portal" and len(parts) > 1 else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_file_in_portal_is_longer_than_the_limit():
    long = {str(path.relative_to(ROOT)): lines for path in (ROOT / "portal").rglob("*.py")
            if (lines := len(path.read_text().splitlines())) > MAX_PORTAL_FILE_LINES}
    assert long == {}


def test_no_import_cycle_between_the_parts_of_portal():
    modules = _modules("portal")
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        source = _part(module)
        if source is None:
            continue
        for name in _imported(module, path):
            target = _part(name)
            if target is not None and target != source and f"portal.{target}" in modules:
                graph.setdefault(source, set()).add(target)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_mdm_core_imports_neither_flask_nor_portal():
    offending = {module: sorted(name for name in _imported(module, path)
                                if name.split(".")[0] in {"flask", "flask_login", "flask_sqlalchemy", "portal", "werkzeug"})
                 for module, path in _modules("mdm_core").items()}
    assert {module: names for module, names in offending.items() if names} == {}

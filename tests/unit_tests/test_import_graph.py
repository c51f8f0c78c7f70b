"""The package's import graph: no import cycles between its modules, and no use of another module's private names.

Every ``import`` statement of every module of ``langchain_emafusion`` counts, wherever it is (module level or
inside a function), except those under ``if TYPE_CHECKING:``. ``from a.b import c`` is an import of module
``a.b.c`` when that is a module, else of ``a.b``; the implicit import of a module's parent packages is not
counted. The source is parsed, nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import langchain_emafusion

PACKAGE = "langchain_emafusion"
ROOT = Path(langchain_emafusion.__file__).resolve().parent


@dataclass(frozen=True)
class Import:
    """One resolved import: ``importer`` imports ``target`` (a module of the package) at ``line``."""

    importer: str
    target: str
    line: int
    names: tuple[str, ...] = ()
    """For ``from target import ...``: the names that are not modules themselves."""


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module and package of ``langchain_emafusion``."""
    modules: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``node``, skipping the bodies of ``if TYPE_CHECKING:`` (not their ``else``)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children: list[ast.AST] = list(node.orelse)
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _import_nodes(child)


def _owning_module(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of dotted ``name`` that is a module of the package (``import a.b.c`` of a name)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The package-internal imports of one module, resolved to modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _owning_module(alias.name, modules)
                if target is not None:
                    found.append(Import(module, target, node.lineno))
            continue
        if node.level:
            base_parts = module.split(".") if is_package else module.split(".")[:-1]
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        if base != PACKAGE and not base.startswith(PACKAGE + "."):
            continue
        plain: list[str] = []
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in modules:
                found.append(Import(module, submodule, node.lineno))
            else:
                plain.append(alias.name)
        if plain:
            target = _owning_module(base, modules)
            assert target is not None, f"{module}:{node.lineno}: {base} is not a module of the package"
            found.append(Import(module, target, node.lineno, tuple(plain)))
    return found


def all_imports() -> list[Import]:
    """Every package-internal import of every module (self-imports, e.g. in ``__init__``, dropped)."""
    modules = module_files()
    return [
        found
        for module, path in modules.items()
        for found in imports_of(module, path, modules)
        if found.target != module
    ]


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); returns the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def cycle_report() -> list[str]:
    """One paragraph per import cycle: its modules and the imports between them (``file line``)."""
    imports = all_imports()
    graph: dict[str, set[str]] = {module: set() for module in module_files()}
    for found in imports:
        graph[found.importer].add(found.target)
    report = []
    for component in strongly_connected_components(graph):
        members = set(component)
        edges = sorted(
            {
                f"  {found.importer} -> {found.target} (line {found.line})"
                for found in imports
                if found.importer in members and found.target in members
            }
        )
        report.append(f"cycle of {len(component)} modules: {', '.join(component)}\n" + "\n".join(edges))
    return report


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_name_imports() -> list[str]:
    """Each import of a private (single-underscore) name from another module of the package.

    Importing a private *module* (``from langchain_emafusion.privacy import _finders``,
    ``import langchain_emafusion._structured``) is an import of that module, not of a private name.
    """
    return sorted(
        f"{found.importer} (line {found.line}) imports {name} from {found.target}"
        for found in all_imports()
        for name in found.names
        if _is_private(name)
    )


def test_the_resolver_reads_the_rules() -> None:
    modules = module_files()
    detectors = imports_of(
        "langchain_emafusion.privacy.detectors", modules["langchain_emafusion.privacy.detectors"], modules
    )
    assert any(found.target == "langchain_emafusion.privacy._finders" for found in detectors)
    source = ROOT / "routing" / "base.py"
    assert (
        "langchain_emafusion.routing.base" in modules
        and modules["langchain_emafusion.routing.base"] == source
    )
    components = strongly_connected_components({"a": {"b"}, "b": {"c", "a"}, "c": set(), "d": {"d"}})
    assert components == [["a", "b"]]


def test_no_import_cycles() -> None:
    report = cycle_report()
    assert not report, "import cycles between modules of the package:\n" + "\n".join(report)


def test_no_private_names_imported_from_other_modules() -> None:
    uses = private_name_imports()
    assert not uses, "private names imported from other modules:\n" + "\n".join(uses)

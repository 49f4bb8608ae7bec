"""The package's rooms import only downward: read every module's imports (type-only ones
included) with ``ast`` and fail on a circle between modules or on an import from a lower
layer into a higher one (docs/api.md, "How the package is built")."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "innersight_widgets"

# Each room's layer: a module may import its own room and rooms of lower layers only. Rooms of
# one layer (the three methods) do not import each other.
LAYERS = {
    "_validation": 0, "_png": 0, "_progress": 0,
    "data": 1,
    "models": 2,
    "engine": 3,
    "innersightnet": 4, "neurflow": 4, "neucept": 4,
    "debugging": 5,
    "analysis": 6, "visualisation": 6, "comparison": 6,
    "reports": 7,
    "widgets": 8,
    "cli": 9, "__init__": 9,
    "__main__": 10,
}

# The documented lazy doors, imported inside a function and allowed to go up: a result's
# to_html reaches reports/, and the top-level package loads the widgets on first access.
LAZY_DOORS = {("engine.html", "reports"), ("__init__", "widgets")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def room(module: str) -> str:
    return module.split(".")[0]


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports(path: Path, tree: ast.AST | None = None) -> list[tuple[str, bool, int]]:
    """(imported module of the package, whether inside a function, line) for every import of
    ``path`` that names a module of the package, at any depth (type-only ones included)."""
    tree = tree or ast.parse(path.read_text(), str(path))
    here = module_name(path).split(".") if module_name(path) != "__init__" else []
    base = here if is_package(path) else here[:-1]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            targets: list[str] = []
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    anchor = base[: len(base) - (child.level - 1)] if child.level > 1 else base
                    prefix = anchor + (child.module.split(".") if child.module else [])
                elif (child.module or "").startswith("innersight_widgets"):
                    prefix = child.module.split(".")[1:]
                else:
                    prefix = None
                if prefix is not None:
                    for alias in child.names:
                        sub = prefix + [alias.name]
                        exists = (PACKAGE.joinpath(*sub).with_suffix(".py").exists()
                                  or (PACKAGE.joinpath(*sub) / "__init__.py").exists())
                        targets.append(".".join(sub if exists else prefix) or "__init__")
            elif isinstance(child, ast.Import):
                targets = [a.name.split(".", 1)[1] for a in child.names if a.name.startswith("innersight_widgets.")]
            found.extend((t, inside, child.lineno) for t in targets)
            visit(child, inside)

    visit(tree, False)
    return found


def import_graph() -> tuple[nx.DiGraph, list[str]]:
    """The modules as a graph of imports, and the imports that break the layers."""
    graph = nx.DiGraph()
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        graph.add_node(source)
        for target, in_function, line in imports(path):
            if target == source:
                continue
            door = (source, room(target)) in LAZY_DOORS or (room(source), room(target)) in LAZY_DOORS
            if in_function and door:
                continue  # a lazy door is not an edge of the house
            graph.add_edge(source, target, line=line)
            low, high = LAYERS[room(target)], LAYERS[room(source)]
            if room(target) != room(source) and low >= high:
                broken.append(f"{source} (line {line}) imports {target}: layer {room(source)} ({high}) may only "
                              f"import lower layers, and {room(target)} is layer {low}")
            if room(target) == "engine" and room(source) != "engine" and target != "engine":
                broken.append(f"{source} (line {line}) imports {target}: outside the engine, use only what "
                              "innersight_widgets.engine exports (the interface a method relies on)")
    return graph, broken


def test_every_room_has_a_layer():
    rooms = {room(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert rooms <= set(LAYERS), f"give these rooms a layer in LAYERS: {sorted(rooms - set(LAYERS))}"


def test_imports_go_only_downward():
    _, broken = import_graph()
    assert not broken, "\n".join(broken)


def test_no_circle_between_modules():
    graph, _ = import_graph()
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not circles, f"modules importing each other in a circle: {circles}"


@pytest.mark.parametrize(
    ("module", "line", "why"),
    [
        ("engine/probe.py", "from ..innersightnet import aggregator", "layer"),
        ("innersightnet/aggregation.py", "if TYPE_CHECKING:\n    from ..neurflow import Circuit", "layer"),
        ("neurflow/circuits.py", "from ..engine._ig import SCORES", "interface"),
        ("engine/records.py", "if TYPE_CHECKING:\n    from .probe import Probe", "circle"),
    ],
)
def test_the_check_fails_on_an_upward_or_circular_import(module, line, why, monkeypatch):
    """The same check on the package with one import added on purpose (type-only ones too)."""
    path = PACKAGE / module
    text = path.read_text().replace("\nfrom __future__ import annotations\n", f"\nfrom __future__ import annotations\n{line}\n", 1)
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text if self == path else real(self, *a, **k))
    graph, broken = import_graph()
    if why == "circle":
        assert any(len(c) > 1 for c in nx.strongly_connected_components(graph))
    else:
        assert any(str(module_name(path)) in b and ("interface" in b) == (why == "interface") for b in broken), broken

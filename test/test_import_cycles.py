"""No import cycles among the package's modules: a static graph (``ast``) of every ``spec_decode_ros.*`` import,
module-level and inside functions both counted (a function-level import that closes a circle is still a circle:
it fails or half-initialises a module the day someone calls it first, and it ties two layers together), imports
under ``if TYPE_CHECKING:`` left out (they never run). ``from a.b import c`` is an edge to ``a.b.c`` when that is
a module, else to ``a.b``. A module's import of its own ancestor package (``embedded.policy`` importing from
``embedded``) is no edge: Python starts every ancestor before the module, so that edge exists for every module. The cloud command once closed such a circle (``bridge.server`` -> ``fleet.serve`` ->
``bridge.server``); the last test shows the check sees one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "spec_decode_ros"


def module_files() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported(tree: ast.AST, modules: set[str]) -> set[str]:
    """The package's modules ``tree`` imports, anywhere but under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if full in modules:
                    found.add(full)
                elif node.module in modules:
                    found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    names = set(files)
    return {name: {m for m in imported(ast.parse(path.read_text()), names) if not _ancestor(m, name)}
            for name, path in files.items()}


def _ancestor(package: str, module: str) -> bool:
    return module == package or module.startswith(package + ".")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert "spec_decode_ros.cloud.command" in graph and "spec_decode_ros.bridge.server" in graph
    assert "spec_decode_ros.bridge.router" in graph["spec_decode_ros.fleet.front"]
    assert "spec_decode_ros.cloud.verifier" in graph["spec_decode_ros.cloud.command"]


def test_no_import_cycles_among_the_packages_modules():
    found = cycles(import_graph())
    assert found == [], "import cycles (module-level and function-level imports both count):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_the_old_cloud_command_circle_would_be_found():
    graph = import_graph()
    graph["spec_decode_ros.bridge.server"] = graph["spec_decode_ros.bridge.server"] | {"spec_decode_ros.cloud.fleet"}
    assert any("spec_decode_ros.bridge.server" in c and "spec_decode_ros.cloud.fleet" in c for c in cycles(graph))

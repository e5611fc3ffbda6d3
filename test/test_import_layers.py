"""The package's layers hold (read by ast, nothing imported): no module outside ``spec_decode_ros/bench/`` imports
``spec_decode_ros.bench`` (benchmark commands put their emulation around the runtime, never the other way round), and
the report's analysis never reaches the simulator (MuJoCo), not even through another module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "spec_decode_ros"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(path): path for path in sorted(PKG.rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def imports(path: Path, *, with_type_checking: bool = True) -> dict[str, int]:
    """Every module ``path`` imports (at any depth: lazy imports in functions count), with the line of its first
    import; ``from a import b`` counts ``a.b`` too when that is a module of this package."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = set() if with_type_checking else _type_checking_only(tree)
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names
                                    if f"{node.module}.{a.name}" in MODULES)]
        else:
            continue
        for name in names:
            found.setdefault(name, node.lineno)
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def bench_imports_outside_bench(modules: dict[str, Path]) -> list[str]:
    """``file:line imports module`` for each import of ``spec_decode_ros.bench`` by a module outside it."""
    return [f"{module}:{line} imports {name}"
            for module, path in modules.items() if not _within(module, "spec_decode_ros.bench")
            for name, line in imports(path).items() if _within(name, "spec_decode_ros.bench")]


def reaches(start: str, banned: str) -> list[str] | None:
    """The chain of this package's modules by which ``start`` imports ``banned`` (run-time imports), or None."""
    seen, stack = {start}, [[start]]
    while stack:
        chain = stack.pop()
        for name in imports(MODULES[chain[-1]], with_type_checking=False):
            if _within(name, banned):
                return [*chain, name]
            parents = [".".join(name.split(".")[:i]) for i in range(2, name.count(".") + 2)]
            for mod in (m for m in parents if m in MODULES and m not in seen):
                seen.add(mod)
                stack.append([*chain, mod])
    return None


def test_no_module_outside_bench_imports_bench() -> None:
    offenders = bench_imports_outside_bench(MODULES)
    assert not offenders, "runtime code imports benchmark code: " + "; ".join(offenders)


def test_the_check_finds_an_import_of_bench_put_back(tmp_path: Path) -> None:
    """The walk sees a lazy import inside a function, as ``nodes/draft.py`` once had."""
    runtime = tmp_path / "spec_decode_ros" / "nodes" / "draft.py"
    runtime.parent.mkdir(parents=True)
    runtime.write_text("def make():\n    from spec_decode_ros.bench.emulation import paced_drafts\n    return paced_drafts\n")
    bench = tmp_path / "spec_decode_ros" / "bench" / "modes.py"
    bench.parent.mkdir(parents=True)
    bench.write_text("from spec_decode_ros.bench import cost\n")
    found = bench_imports_outside_bench({"spec_decode_ros.nodes.draft": runtime, "spec_decode_ros.bench.modes": bench})
    assert [f.split(" imports ")[1] for f in found] == ["spec_decode_ros.bench.emulation"]


def test_the_report_pictures_need_no_simulator() -> None:
    for module in ("spec_decode_ros.analysis.pictures", "spec_decode_ros.analysis.report"):
        chain = reaches(module, "mujoco")
        assert chain is None, "the report imports MuJoCo: " + " -> ".join(chain or [])
    assert reaches("spec_decode_ros.sim.episode", "mujoco") is not None, "the walk finds MuJoCo where it is"

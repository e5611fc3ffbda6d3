"""docs/architecture.md names the file and function of every hop; each `path::Name[.attr]` must exist, and each hop
states at least one call its code makes (`path::Function` → `callee`), which must be in that function's syntax tree."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "architecture.md").read_text()
REF = re.compile(r"`(spec_decode_ros/[\w/]+\.py)(?:::([\w.]+))?`")
CALL = re.compile(r"`(spec_decode_ros/[\w/]+\.py)::([\w.]+)` → `(\w+)`")
HOP = re.compile(r"^\| (\d+′?) \|", re.M)


@functools.cache
def _tree(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text())


def _find(tree: ast.Module, dotted: str) -> ast.AST | None:
    scope: list[ast.stmt] = tree.body
    found: ast.AST | None = None
    for part in dotted.split("."):
        found = next((node for node in scope if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                      and node.name == part), None)
        if found is None:
            return None
        scope = found.body
    return found


def called_names(function: ast.AST) -> set[str]:
    """The last name of everything ``function`` calls: ``self.target.prefill(...)`` gives ``prefill``."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def test_every_file_and_function_the_page_names_exists() -> None:
    refs = REF.findall(PAGE)
    assert len(refs) >= 25, "the page should name the code of every hop"
    missing = []
    for path, name in refs:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name and _find(_tree(path), name) is None:
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/architecture.md names code that does not exist: {missing}"


def test_each_hop_states_a_call_that_its_code_makes() -> None:
    hops = [line for line in PAGE.splitlines() if HOP.match(line)]
    assert len(hops) >= 13, "the hop table is gone"
    wrong = []
    for row in hops:
        hop = HOP.match(row).group(1)
        calls = CALL.findall(row)
        if not calls:
            wrong.append(f"hop {hop} states no call")
        for path, name, callee in calls:
            function = _find(_tree(path), name)
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                wrong.append(f"hop {hop}: {path}::{name} is not a function")
            elif callee not in called_names(function):
                wrong.append(f"hop {hop}: {path}::{name} does not call {callee}")
    assert not wrong, "docs/architecture.md says what the code does not: " + "; ".join(wrong)


def test_the_check_catches_a_call_the_code_does_not_make() -> None:
    tree = ast.parse("class S:\n    def _forward_one(self):\n        self.target.resume(1)\n")
    assert called_names(_find(tree, "S._forward_one")) == {"resume"}  # a page saying it calls prefill would fail

"""docs/architecture.md names the file and function of every hop; each `path::Name[.attr]` must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = re.compile(r"`(spec_decode_ros/[\w/]+\.py)(?:::([\w.]+))?`")


def _defined(tree: ast.Module, dotted: str) -> bool:
    scope: list[ast.stmt] = tree.body
    for part in dotted.split("."):
        found = next((node for node in scope if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                      and node.name == part), None)
        if found is None:
            return False
        scope = found.body
    return True


def test_every_file_and_function_the_page_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    refs = REF.findall(text)
    assert len(refs) >= 25, "the page should name the code of every hop"
    missing = []
    for path, name in refs:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name and not _defined(ast.parse(file.read_text()), name):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/architecture.md names code that does not exist: {missing}"

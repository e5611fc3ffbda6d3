"""Every dependency the set-up installs is pinned in requirements/constraints.txt, and the venv holds
exactly the pinned version (an upgrade is a deliberate edit of that file, not an accident of the day)."""

from __future__ import annotations

import ast
import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ("python.txt", "ros.txt", "nodeps.txt")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(_canonical(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_canonical(name)] = version
    return pins


def test_every_requirement_is_pinned_and_installed_at_its_pin() -> None:
    pins = _pins()
    wanted = [name for file in REQUIREMENTS for name in _names(ROOT / "requirements" / file)]
    assert wanted, "no requirements read"
    unpinned = [name for name in wanted if name not in pins]
    assert not unpinned, f"requirements without a pin in constraints.txt: {unpinned}"
    wrong = {name: (metadata.version(name), pins[name]) for name in wanted if metadata.version(name) != pins[name]}
    assert not wrong, f"installed != pinned (installed, pinned): {wrong}"


def test_setup_installs_under_the_constraints() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    installs = [line for line in setup.splitlines() if "quiet_pip install" in line and "-r requirements/" in line]
    assert installs and all("-c requirements/constraints.txt" in line for line in installs)


def _extras() -> dict[str, list[str]]:
    """setup.py's extras, read without running setup()."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    lists: dict[str, list[str]] = {}
    for node in tree.body:  # NAME = [..] or NAME = A + B + [..]
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            lists[node.targets[0].id] = _list_value(node.value, lists)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    extras = next(k.value for k in call.keywords if k.arg == "extras_require")
    return {ast.literal_eval(k): _list_value(v, lists) for k, v in zip(extras.keys, extras.values, strict=True)}


def _list_value(node: ast.expr, lists: dict[str, list[str]]) -> list[str]:
    if isinstance(node, ast.BinOp):
        return _list_value(node.left, lists) + _list_value(node.right, lists)
    if isinstance(node, ast.Name):
        return lists[node.id]
    if isinstance(node, ast.Call):  # sorted(set(...))
        return _list_value(node.args[0], lists)
    return list(ast.literal_eval(node)) if isinstance(node, (ast.List, ast.Tuple)) else []


def test_extras_never_pin_or_replace_the_platforms_torch() -> None:
    """A Jetson's JetPack torch (a CUDA build pip cannot fetch) survives ``pip install .[robot]``: the extras
    carry no torch pin, the robot's none at all; the exact pin lives in constraints.txt for the venv only."""
    extras = _extras()
    assert {"robot", "cloud", "sim", "all"} <= set(extras)
    for name, requirements in extras.items():
        torch = [r for r in requirements if _canonical(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) == "torch"]
        assert all(r.strip() == "torch" for r in torch), f"extra {name!r} pins torch: {torch}"
    assert not [r for r in extras["robot"] if r.startswith("torch")], "the robot extra must leave torch to the platform"
    assert _pins()["torch"].startswith("2."), "the venv's torch pin belongs in constraints.txt"

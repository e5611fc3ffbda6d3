"""Every dependency the set-up installs is pinned in requirements/constraints.txt, and the venv holds
exactly the pinned version (an upgrade is a deliberate edit of that file, not an accident of the day)."""

from __future__ import annotations

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

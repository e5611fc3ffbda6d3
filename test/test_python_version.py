"""The source runs on Python 3.10 (ROS 2 Humble on a Jetson's JetPack 6): ``vermin`` (the minimum-version
detector) targets 3.10 over every tree that ships or runs, and any construct newer than 3.10 fails the test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ("spec_decode_ros", "bin", "launch", "bench")
TARGET = "3.10"


def _vermin(*paths: Path | str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("vermin", path=str(Path(sys.executable).parent))
    assert exe, "vermin is not installed in this venv (requirements/python.txt)"
    # --eval-annotations: annotations count too (``from __future__ import annotations`` does not hide them on a
    # 3.10 interpreter that evaluates them, e.g. dataclasses' get_type_hints); --violations: only what breaks 3.10
    return subprocess.run([exe, f"--target={TARGET}-", "--violations", "--eval-annotations", "--no-tips",
                           "--processes=1", *map(str, paths)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_every_shipped_tree_runs_on_python_3_10() -> None:
    result = _vermin(*TREES)
    print(result.stdout)
    assert result.returncode == 0, f"vermin finds constructs newer than Python {TARGET}:\n{result.stdout}{result.stderr}"
    assert "Minimum required versions: 3.10" in result.stdout or "Minimum required versions: ~" in result.stdout


@pytest.mark.parametrize("source", [
    "from enum import StrEnum\n\nclass Mode(StrEnum):\n    A = 'a'\n",
    "from typing import Self\n",
    "try:\n    pass\nexcept* ValueError:\n    pass\n",
    "import tomllib\n",
], ids=["StrEnum", "typing.Self", "except*", "tomllib"])
def test_a_3_11_construct_fails_the_check(tmp_path: Path, source: str) -> None:
    (tmp_path / "newer.py").write_text(source)
    result = _vermin(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "3.11" in result.stdout

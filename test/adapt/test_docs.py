"""docs/your-vlm.md: every ``spec-decode`` command of its recipe and examples parses with the options it shows
(a renamed or dropped option breaks this test, not the lab's first day)."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from spec_decode_ros.cli import SUBCOMMANDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "your-vlm.md"


def _commands() -> list[list[str]]:
    text = DOC.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    joined = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(line, comments=True)[1:] for line in joined if line.startswith("spec-decode ")]


def test_the_recipe_is_four_commands_with_both_trainings_on_the_bag():
    recipe = DOC.read_text().split("## Your VLM pair in four commands", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^# \d\. (\w+)", recipe, flags=re.M)
    assert steps == ["record", "make", "train", "serve"]
    names = [argv[0] for argv in _commands()]
    assert {"make-draft", "train-adapters", "cloud"} <= set(names)


@pytest.mark.parametrize("argv", _commands(), ids=lambda argv: " ".join(argv[:2]))
def test_each_command_of_the_page_parses(argv: list[str]):
    module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
    module.build_parser().parse_args(argv[1:])

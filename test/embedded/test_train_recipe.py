"""``scripts/train_shipped.sh``: the shipped pair's recipe is a chain of valid ``spec-decode train`` commands."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from spec_decode_ros.embedded import TARGET_NAME
from spec_decode_ros.embedded import train as train_cli

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_shipped.sh"


def _commands(tmp_path: Path) -> list[list[str]]:
    out = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "pair"), str(tmp_path / "work")], check=True,
                         capture_output=True, text=True, env={**os.environ, "DRY_RUN": "1"}, timeout=60).stdout
    lines = [shlex.split(line) for line in out.splitlines() if " train " in line]
    assert all(words[:2] == [str(SCRIPT.parents[1] / ".venv/bin/spec-decode"), "train"] for words in lines)
    return [words[2:] for words in lines]


def test_the_recipe_parses_and_chains_each_target_into_the_next(tmp_path):
    commands = _commands(tmp_path)
    parsed = [train_cli._parser().parse_args(args) for args in commands]  # argparse exits on a bad flag
    targets = [a for a in parsed if a.stages == "target"]
    assert len(targets) == 10 and targets[0].init_target is None
    for before, after in zip(targets, targets[1:], strict=False):
        assert after.init_target == before.out / TARGET_NAME  # every run continues the one before
    assert [a.target_spec for a in targets if a.target_spec] == [{"image_size": 128}]  # one switch to 128 px
    assert [a.stages for a in parsed[-2:]] == ["adapters", "draft"]
    assert {a.out for a in parsed[-3:]} == {tmp_path / "pair"}  # the last target, its adapter and draft: OUT
    assert parsed[-1].draft_spec == {}  # the draft takes the target's image size

"""What the benchmarks (``bench``, ``bench-local``) share on their command lines: ``--constrain`` with a ``both``
that runs each case with and without the command grammar, and ``--system-prompt``."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable

from spec_decode_ros.decoding.types import CONSTRAIN_CHOICES, Prompt


def add_prompt_options(ap: argparse.ArgumentParser, constrain_help: str) -> None:
    """``--constrain`` (none, grammar or both; ``constrain_help`` says how the benchmark names the constrained
    runs) and ``--system-prompt``."""
    ap.add_argument("--constrain", choices=(*CONSTRAIN_CHOICES, "both"), default="none", help=constrain_help)
    ap.add_argument("--system-prompt", default="", help="a system prompt, through each model's chat template")


def constrain_variants(choice: str) -> tuple[str, ...]:
    """The constraints each case runs under for ``--constrain choice``: both is none, then grammar."""
    return ("none", "grammar") if choice == "both" else (choice,)


def with_system(prompts: Iterable[Prompt], system: str) -> tuple[Prompt, ...]:
    """The prompts with ``system`` as their system prompt ("" leaves them as they are)."""
    return tuple(dataclasses.replace(pr, system=system) for pr in prompts) if system else tuple(prompts)

"""Every canonical command of the language (the expert's whole output space), for tests that sweep it."""

from __future__ import annotations

from spec_decode_ros.control.grammar import CANONICAL_DEGREES, CANONICAL_METRES, METRE_ACTIONS, SIDES, Command


def canonical_commands() -> list[Command]:
    """stop, each turn, then each metre action with its side(s) and amounts."""
    cmds = [Command("stop")]
    cmds += [Command("turn", side, float(d)) for side in SIDES for d in CANONICAL_DEGREES]
    for action in METRE_ACTIONS:
        sides: tuple[str | None, ...] = SIDES if action == "sidestep" else (None,)
        cmds += [Command(action, side, m) for side in sides for m in CANONICAL_METRES]
    return cmds

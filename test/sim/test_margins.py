"""state_kind names the expert threshold a state sits near, on hand-made states, and tags every sample."""

from __future__ import annotations

import pytest

from sim.hand_made import BOX, place
from spec_decode_ros.sim.dataset import sample_stream
from spec_decode_ros.sim.expert import GOAL_GAP, STOP_GAP
from spec_decode_ros.sim.margins import CLEAR_KINDS, STATE_KINDS, state_kind
from spec_decode_ros.sim.world import NOSE_OFFSET

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

HALF = BOX.size / 2


def test_each_threshold_is_named_and_clear_states_are_clear(world):
    place(world, NOSE_OFFSET + HALF + 0.66, 0.0)  # facing gap 0.66: the 0.25 / 0.5 m forward-bin edge is 0.65
    assert state_kind(world, BOX) == "distance threshold"
    place(world, NOSE_OFFSET + HALF + 0.9, 0.0)  # gap 0.9: between the 0.65 and 1.15 edges
    assert state_kind(world, BOX) == "clear"
    place(world, 2.5, 14.0)  # 1 deg under the 15 deg turn threshold
    assert state_kind(world, BOX) == "turn threshold"
    place(world, 2.5, 25.0)
    assert state_kind(world, BOX) == "clear"
    place(world, NOSE_OFFSET + HALF + STOP_GAP - 0.1, 19.0)  # at the goal the threshold is 20 deg
    assert state_kind(world, BOX) == "turn threshold"
    place(world, NOSE_OFFSET + HALF + STOP_GAP - 0.1, 14.0)  # ... and 15 deg is clear of it there
    assert state_kind(world, BOX) == "clear"
    place(world, 3.0, 150.0)
    assert state_kind(world, BOX) == "out of view"
    place(world, 3.0, 39.0)  # 1 deg inside the 40 deg edge (45 deg half view less the 5 deg margin)
    assert state_kind(world, BOX) == "view edge"
    assert GOAL_GAP < STOP_GAP


def test_every_sample_carries_its_state_kind():
    stream = sample_stream(3, split="heldout", width=32, height=32)
    kinds = {next(stream).meta["state"] for _ in range(300)}
    stream.close()
    assert kinds <= set(STATE_KINDS)
    assert {"clear", "out of view", "turn threshold", "distance threshold"} <= kinds


def test_clear_keep_thins_out_clear_states_and_leaves_the_default_stream_alone():
    def first(n: int, **kwargs: float) -> list:
        stream = sample_stream(5, split="train", width=32, height=32, **kwargs)
        out = [next(stream) for _ in range(n)]
        stream.close()
        return out

    natural, again, focused = first(200), first(200), first(200, clear_keep=0.3)
    assert [s.answer for s in natural] == [s.answer for s in again]  # seeded; clear_keep=1 draws nothing extra
    share = {name: sum(s.meta["state"] in CLEAR_KINDS for s in run) / len(run)
             for name, run in (("natural", natural), ("focused", focused))}
    assert share["focused"] < share["natural"] - 0.2  # ~0.7 -> ~0.4 clear

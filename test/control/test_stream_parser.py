"""Streaming parser: any split of a valid answer gives the same commands, each at the first delta
that completes it; garbage gives none and is reported."""

from __future__ import annotations

import random

from spec_decode_ros.control.grammar import Command, parse_answer
from spec_decode_ros.control.stream_parser import StreamingCommandParser

VALID = [
    "turn left 30, forward 1.5.",
    "stop.",
    "forward 0.25.",
    "turn right 45.",
    "sidestep left 0.5, back 1.0, turn right 180, stop.",
    "forward 2.0, forward 1.0.",
    "turn left 15, forward 0.75.",
]


def random_split(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), k=rng.randint(0, min(len(text) - 1, 8))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def completion_offsets(text: str) -> list[int]:
    """Offset (chars fed) at which each command of a canonical answer is complete: its ',' or '.'."""
    return [i + 1 for i, ch in enumerate(text) if ch == "," or (ch == "." and i == len(text) - 1)]


def test_any_split_gives_the_same_commands_at_the_completing_delta():
    rng = random.Random(0)
    for text in VALID:
        expected = parse_answer(text)
        offsets = completion_offsets(text)
        for _ in range(200):
            parser = StreamingCommandParser()
            got: list[Command] = []
            fed = 0
            for delta in random_split(text, rng):
                before = fed
                fed += len(delta)
                for parsed in parser.feed(delta):
                    # emitted in the delta that completed it, never earlier
                    assert before < offsets[parsed.index] <= fed, (text, delta, parsed)
                    assert parsed.end == offsets[parsed.index]
                    got.append(parsed.command)
                # nothing whose completion is already fed is held back
                assert len(got) == sum(o <= fed for o in offsets), (text, delta)
            assert parser.finish() == []
            assert got == expected
            assert parser.rejections == []


def test_word_level_deltas_emit_each_command_at_its_separator():
    parser = StreamingCommandParser()
    deltas = ["turn", " left", " 30", ",", " forward", " 1.5", "."]
    emitted = [parser.feed(d) for d in deltas]
    assert [len(e) for e in emitted] == [0, 0, 0, 1, 0, 0, 1]
    assert emitted[3][0].command == Command("turn", "left", 30.0)
    assert emitted[6][0].command == Command("forward", None, 1.5)
    assert parser.ended


def test_metres_integer_then_point_waits_for_the_next_character():
    parser = StreamingCommandParser()
    assert parser.feed("forward 1.") == []
    assert [p.command for p in parser.feed("5,")] == [Command("forward", None, 1.5)]
    parser = StreamingCommandParser()
    assert parser.feed("forward 1.") == []
    assert parser.finish() == []
    assert "metres with a point" in parser.rejections[0].reason


def test_no_terminator_completes_at_finish():
    parser = StreamingCommandParser()
    assert [p.command for p in parser.feed("turn left 30, stop")] == [Command("turn", "left", 30.0)]
    assert [p.command for p in parser.finish()] == [Command("stop")]
    assert parser.ended


def test_garbage_emits_nothing_and_is_reported():
    rng = random.Random(1)
    garbage = ["hello there.", "I think the red box is left.", "turn around, go.", "forward one metre.",
               "turn left 30 degrees.", "0.5 forward.", "!!!", "stop please."]
    for text in garbage:
        for _ in range(50):
            reported = []
            parser = StreamingCommandParser(on_reject=reported.append)
            out = [p for d in random_split(text, rng) if d for p in parser.feed(d)] + parser.finish()
            assert out == [], text
            assert parser.rejections and reported == parser.rejections
            assert all(r.reason for r in parser.rejections)


def test_valid_commands_around_garbage_still_emit_and_text_after_the_end_is_reported():
    parser = StreamingCommandParser()
    out = parser.feed("turn left 30, dance, forward 0.5. and more")
    out += parser.finish()
    assert [p.command for p in out] == [Command("turn", "left", 30.0), Command("forward", None, 0.5)]
    assert [r.text for r in parser.rejections] == ["dance", "and more"]


def test_endless_garbage_is_bounded():
    parser = StreamingCommandParser()
    assert parser.feed("x" * 10_000) == []
    assert len(parser._buf) <= 200
    assert parser.rejections

"""The command language: round trips, canonical forms, quantisation, and clear rejections."""

from __future__ import annotations

import pytest
from support.commands import canonical_commands

from spec_decode_ros.control.grammar import (
    Command,
    CommandError,
    answer_vocabulary,
    format_answer,
    format_command,
    parse_answer,
    parse_command,
    quantize_degrees,
    quantize_metres,
    tokenize_answer,
)


def test_every_canonical_command_round_trips_and_uses_only_vocabulary_words():
    vocab = set(answer_vocabulary())
    for cmd in canonical_commands():
        text = format_command(cmd)
        assert parse_command(text) == cmd
        assert cmd.is_canonical
        answer = format_answer([cmd, Command("stop")])
        assert parse_answer(answer) == [cmd, Command("stop")]
        assert set(tokenize_answer(answer)) <= vocab, answer


def test_canonical_text_examples():
    cmds = [Command("turn", "left", 30.0), Command("forward", None, 1.5)]
    assert format_answer(cmds) == "turn left 30, forward 1.5."
    assert format_answer([Command("stop")]) == "stop."
    assert format_command(Command("back", None, 1.0)) == "back 1.0"
    assert format_command(Command("sidestep", "right", 0.25)) == "sidestep right 0.25"
    assert tokenize_answer("turn left 30, forward 1.5.") == ["turn", "left", "30", ",", "forward", "1.5", "."]


def test_vocabulary_is_fixed_and_unique():
    vocab = answer_vocabulary()
    assert len(vocab) == len(set(vocab))
    assert {"turn", "left", "right", "forward", "back", "sidestep", "stop", ",", ".", "45", "1.5", "0.25"} <= set(vocab)
    assert answer_vocabulary() == vocab


def test_parser_accepts_non_canonical_amounts_and_loose_whitespace():
    assert parse_answer("  turn right 20 ,forward 1.3 . ") == [Command("turn", "right", 20.0),
                                                               Command("forward", None, 1.3)]
    assert not Command("forward", None, 1.3).is_canonical


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("go left.", "'go'"),
        ("forward 1.", "metres with a point"),
        ("turn 30.", "left or right"),
        ("stop", "end with '.'"),
        ("turn left 30.5.", "whole degrees"),
        ("forward 9.0.", "outside"),
        ("stop. turn left 15.", "after the terminating"),
        ("turn left 30,, stop.", "empty command"),
        ("stop now.", "takes nothing after it"),
        ("turn left 30!", "'!'"),
        ("", "empty answer"),
    ],
)
def test_bad_answers_are_rejected_with_a_reason(text, fragment):
    with pytest.raises(CommandError, match=None) as info:
        parse_answer(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_command_validation():
    with pytest.raises(CommandError, match="unknown action"):
        Command("jump")
    with pytest.raises(CommandError, match="left or right"):
        Command("turn", None, 30.0)
    with pytest.raises(CommandError, match="takes no direction"):
        Command("forward", "left", 1.0)
    with pytest.raises(CommandError, match="outside"):
        Command("turn", "left", 0.0)
    with pytest.raises(CommandError, match="one command expected"):
        parse_command("stop, stop")


def test_quantisation_bins():
    assert quantize_degrees(7.0) == 0
    assert quantize_degrees(-8.0) == 15
    assert quantize_degrees(37.6) == 45
    assert quantize_degrees(400.0) == 180
    assert quantize_metres(0.1) == 0.0
    assert quantize_metres(0.13) == 0.25
    assert quantize_metres(1.26) == 1.5
    assert quantize_metres(1.24) == 1.0
    assert quantize_metres(7.0) == 2.0
    assert quantize_metres(1.49, mode="floor") == 1.0
    assert quantize_metres(0.24, mode="floor") == 0.0
    assert quantize_metres(9.0, mode="floor") == 2.0
    with pytest.raises(ValueError, match="mode"):
        quantize_metres(1.0, mode="ceil")


def test_answer_pattern_matches_exactly_the_answers_that_parse():
    """The constraint's pattern (``answer_pattern``) against the parser: random answers with amounts in and out of
    range (written with at most two decimals) and spacing within the pattern's allowance match it if and only if
    they parse (and hold at most ``MAX_ANSWER_COMMANDS`` commands); every canonical command is in it."""
    import random
    import re

    from spec_decode_ros.control.grammar import MAX_ANSWER_COMMANDS, answer_pattern

    pattern = re.compile(answer_pattern())
    for cmd in canonical_commands():
        assert pattern.fullmatch(format_answer([cmd])), format_command(cmd)
    rng = random.Random(0)
    amounts = ["0", "1", "15", "90", "180", "181", "999", "0.0", "0.05", "0.25", "1.0", "1.5", "2.75", "3.0", "3.00",
               "3.01", "3.5", "10.0"]
    matched = 0
    for _ in range(3000):
        words = []
        for _ in range(rng.randint(1, MAX_ANSWER_COMMANDS + 1)):
            action = rng.choice(["turn", "forward", "back", "sidestep", "stop", "walk"])
            side = [rng.choice(["left", "right"])] if action in ("turn", "sidestep") else []
            words.append(" ".join([action, *side] + ([] if action == "stop" else [rng.choice(amounts)])))
        text = rng.choice(["", " "]) + "".join(w + rng.choice([", ", ",", " , ", " ,"]) for w in words[:-1])
        text += words[-1] + rng.choice([".", " ."])
        try:
            parses = len(parse_answer(text)) <= MAX_ANSWER_COMMANDS
        except CommandError:
            parses = False
        assert bool(pattern.fullmatch(text)) == parses, text
        matched += parses
    assert 300 < matched < 2700  # both sides of the equivalence were exercised
    # deliberately narrower than the parser: at most two decimals, so a constrained amount always ends
    assert parse_answer("forward 1.234.") and not pattern.fullmatch("forward 1.234.")

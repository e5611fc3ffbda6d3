"""When a token stream yields its commands: the latency a robot feels, measured off the robot.

The motion node turns each committed token's text into commands with ``StreamingCommandParser`` the moment
the text is complete. ``command_times`` replays a finished generation the same way (the text each token
adds, at the time it was committed) and says when the first and the last command became complete, so
benchmarks report ``first_command_s`` and ``answer_s`` with the parser the robot itself runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from spec_decode_ros.control.stream_parser import StreamingCommandParser


@dataclass(frozen=True)
class CommandTimes:
    """Seconds from the request's start: the first complete command, the last one; how many there were."""

    first_command_s: float
    answer_s: float
    commands: int


def text_deltas(decode: Callable[[list[int]], str], tokens: Sequence[int]) -> list[str]:
    """The text each token adds to the answer, as the draft node publishes it (decode of the prefix, diffed)."""
    deltas, sent = [], ""
    for i in range(len(tokens)):
        text = decode(list(tokens[: i + 1]))
        deltas.append(text[len(sent):])
        sent = text
    return deltas


def command_times(deltas: Sequence[str], token_times: Sequence[float], end_s: float) -> CommandTimes | None:
    """Replay ``deltas`` (one per committed token, committed at ``token_times``) through the streaming parser;
    commands completed only at the end of the stream count at ``end_s``. None when no command parses."""
    if len(deltas) != len(token_times):
        raise ValueError(f"{len(deltas)} text deltas for {len(token_times)} token times")
    parser = StreamingCommandParser()
    stamps: list[float] = []
    for delta, t in zip(deltas, token_times, strict=True):
        stamps += [t] * len(parser.feed(delta))
    stamps += [end_s] * len(parser.finish())
    if not stamps:
        return None
    return CommandTimes(first_command_s=stamps[0], answer_s=stamps[-1], commands=len(stamps))

"""Streaming parser: text deltas (decoded tokens) in, each command out the moment its text is complete.

A command is complete at its separator "," or at the terminator "." (or, with no terminator, at
``finish()``), never before: "forward 1" may still become "forward 1.5". Because degrees never
hold a point and metres always do (see ``control.grammar``), a "." after a complete amount is
always the terminator; the only "." whose meaning waits for the next character follows an
integer in a metre position ("forward 1." is either "forward 1.5" or an invalid command).

Text outside the grammar emits no command: each rejected piece is recorded as a ``Rejection``
(text and reason) in ``rejections`` and passed to the optional ``on_reject`` callback. After
the terminator the answer is over: later text emits nothing and is reported once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from spec_decode_ros.control.grammar import (
    METRE_ACTIONS,
    SEPARATOR,
    TERMINATOR,
    Command,
    CommandError,
    command_from_words,
    tokenize_answer,
)

MAX_COMMAND_CHARS = 200  # a command longer than this is garbage; it is rejected and dropped at once


@dataclass(frozen=True)
class ParsedCommand:
    """A command taken from the stream: its text, its ordinal in the answer, and the stream offset
    (characters fed so far) at which its text became complete."""

    command: Command
    text: str
    index: int
    end: int


@dataclass(frozen=True)
class Rejection:
    """Text that is not a command, and why."""

    text: str
    reason: str
    end: int


@dataclass
class StreamingCommandParser:
    """Feed text deltas; get each command as soon as its text is complete. One parser per answer."""

    on_reject: Callable[[Rejection], None] | None = None
    rejections: list[Rejection] = field(default_factory=list)
    _buf: str = ""
    _pending_point: bool = False  # buf ends with "<metre action> ... <digits>." (decimal point or terminator?)
    _ended: bool = False
    _after_end: str = ""
    _fed: int = 0
    _count: int = 0

    @property
    def ended(self) -> bool:
        """True once the terminator has been seen (or ``finish`` called)."""
        return self._ended

    def feed(self, text_delta: str) -> list[ParsedCommand]:
        """Consume the next piece of text; return the commands it completed, in order."""
        out: list[ParsedCommand] = []
        for ch in text_delta:
            self._fed += 1
            self._consume(ch, out)
        return out

    def finish(self) -> list[ParsedCommand]:
        """End of stream: resolve a pending point, complete the last command if it has no terminator."""
        out: list[ParsedCommand] = []
        if self._pending_point:
            self._resolve_point_as_terminator(out)
        if not self._ended:
            if self._buf.strip():
                self._complete(out)
            self._ended = True
        if self._after_end.strip():
            self._reject(self._after_end.strip(), "text after the terminating '.'")
        self._after_end = ""
        return out

    # ---- internals ---------------------------------------------------------------------------
    def _consume(self, ch: str, out: list[ParsedCommand]) -> None:
        if self._ended:
            self._after_end += ch
            if len(self._after_end) > MAX_COMMAND_CHARS:
                self._reject(self._after_end.strip(), "text after the terminating '.'")
                self._after_end = ""
            return
        if self._pending_point:
            if ch.isdigit():  # it was a decimal point
                self._pending_point = False
                self._buf += ch
                return
            self._resolve_point_as_terminator(out)
            self._after_end += ch
            return
        if ch == SEPARATOR:
            self._complete(out)
        elif ch == TERMINATOR:
            if self._awaits_decimals():
                self._buf += ch
                self._pending_point = True
            else:
                self._complete(out)
                self._ended = True
        else:
            self._buf += ch
            if len(self._buf) > MAX_COMMAND_CHARS:
                self._reject(self._buf.strip(), f"command text longer than {MAX_COMMAND_CHARS} characters")
                self._buf = ""

    def _awaits_decimals(self) -> bool:
        words = self._buf.split()
        return (
            len(words) >= 2 and words[0] in METRE_ACTIONS and words[-1].isdigit() and not self._buf[-1].isspace()
        )

    def _resolve_point_as_terminator(self, out: list[ParsedCommand]) -> None:
        self._pending_point = False
        self._buf = self._buf[:-1]
        self._complete(out)
        self._ended = True

    def _complete(self, out: list[ParsedCommand]) -> None:
        text, self._buf = self._buf.strip(), ""
        try:
            words = tokenize_answer(text)
            if any(w in (SEPARATOR, TERMINATOR) for w in words):
                raise CommandError(f"stray punctuation in {text!r}")
            command = command_from_words(words)
        except CommandError as exc:
            self._reject(text, str(exc))
            return
        out.append(ParsedCommand(command, text, self._count, self._fed))
        self._count += 1

    def _reject(self, text: str, reason: str) -> None:
        rejection = Rejection(text, reason, self._fed)
        self.rejections.append(rejection)
        if self.on_reject is not None:
            self.on_reject(rejection)

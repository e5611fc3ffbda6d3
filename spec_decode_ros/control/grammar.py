"""The command language the VLM speaks: one definition, shared by the expert (data) and the parsers.

Grammar (lower case; words separated by single spaces in canonical text; ``ws`` = any whitespace)::

    answer    := ws? command ( ws? "," ws? command )* ws? "." ws?
    command   := "stop"
               | "turn" SP side SP DEGREES             # turn in place; left = counter-clockwise
               | "forward" SP METRES | "back" SP METRES
               | "sidestep" SP side SP METRES          # sideways; left = +y of the robot
    side      := "left" | "right"
    DEGREES   := [0-9]+                                # integer degrees, 1 .. 180
    METRES    := [0-9]+ "." [0-9]+                     # a decimal point is required, 0 < m <= 3.0

Canonical text (what ``format_answer`` writes and the expert emits): commands joined by ", ",
ended by ".", e.g. ``"turn left 30, forward 1.5."`` or ``"stop."``. Canonical amounts are coarse
bins a small VLM can read off a 64-128 px image: degrees in ``CANONICAL_DEGREES`` (multiples of
15) and metres in ``CANONICAL_METRES`` (0.25 steps up to 1, then 0.5 steps up to 2);
``quantize_degrees`` / ``quantize_metres`` map a true amount to its bin. The parser accepts any
amount in range (a larger VLM may say "forward 1.3"); ``Command.is_canonical`` tells them apart.

Lexing: ``tokenize_answer`` splits text into the words of ``answer_vocabulary()``: keywords,
amounts (``1.5`` is one word, so is ``30``) and the symbols "," and ".". Because degrees never
contain a point and metres always do, a "." after a complete amount is always the terminator. The one
"." a streaming parser must wait on is one right after an integer where metres belong ("forward 1."
may become "forward 1.5"): the next character decides (``control.stream_parser``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

ACTIONS: tuple[str, ...] = ("turn", "forward", "back", "sidestep", "stop")
METRE_ACTIONS: tuple[str, ...] = ("forward", "back", "sidestep")  # amounts in metres; "turn" takes degrees
SIDES: tuple[str, ...] = ("left", "right")
SEPARATOR = ","
TERMINATOR = "."

MAX_DEGREES = 180.0
MAX_METRES = 3.0
CANONICAL_DEGREES: tuple[int, ...] = tuple(range(15, 181, 15))
CANONICAL_METRES: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)

_DEGREES_RE = re.compile(r"[0-9]+")
_METRES_RE = re.compile(r"[0-9]+\.[0-9]+")
# one lexeme: a metre amount, a degree amount, a word, or a symbol; anything else is garbage
_LEXEME_RE = re.compile(r"\s*(?:([0-9]+\.[0-9]+|[0-9]+|[a-z]+|[,.])|(\S))")


class CommandError(ValueError):
    """Text that is not in the command language; the message names the offending text."""


@dataclass(frozen=True)
class Command:
    """One locomotion command. ``amount`` is degrees for turn, metres for the others, None for stop."""

    action: str
    direction: str | None = None
    amount: float | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise CommandError(f"unknown action {self.action!r} (expected one of {', '.join(ACTIONS)})")
        if self.action == "stop":
            if self.direction is not None or self.amount is not None:
                raise CommandError(f"'stop' takes no direction or amount (got {self.direction!r}, {self.amount!r})")
            return
        wants_side = self.action in ("turn", "sidestep")
        if wants_side and self.direction not in SIDES:
            raise CommandError(f"'{self.action}' needs direction left or right (got {self.direction!r})")
        if not wants_side and self.direction is not None:
            raise CommandError(f"'{self.action}' takes no direction (got {self.direction!r})")
        if self.amount is None:
            raise CommandError(f"'{self.action}' needs an amount")
        cap, unit = (MAX_METRES, "metres") if self.action in METRE_ACTIONS else (MAX_DEGREES, "degrees")
        if not 0.0 < float(self.amount) <= cap:
            raise CommandError(f"'{self.action}' amount {self.amount!r} {unit} is outside (0, {cap:g}]")

    @property
    def is_canonical(self) -> bool:
        """True when the amount is one of the canonical bins (what the expert would say)."""
        if self.action == "stop":
            return True
        return self.amount in (CANONICAL_METRES if self.action in METRE_ACTIONS else CANONICAL_DEGREES)


def format_degrees(value: float) -> str:
    """Degrees as the grammar writes them: an integer, no point."""
    if float(value) != int(value):
        raise CommandError(f"degrees must be whole numbers in this language (got {value!r})")
    return str(int(value))


def format_metres(value: float) -> str:
    """Metres with a decimal point and no trailing zeros beyond one: 0.25, 0.5, 1.0, 1.5."""
    text = f"{float(value):.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def format_command(cmd: Command) -> str:
    """Canonical text of one command (no separator or terminator)."""
    if cmd.action == "stop":
        return "stop"
    assert cmd.amount is not None
    amount = format_metres(cmd.amount) if cmd.action in METRE_ACTIONS else format_degrees(cmd.amount)
    return " ".join(w for w in (cmd.action, cmd.direction, amount) if w is not None)


def format_answer(cmds: Sequence[Command]) -> str:
    """Canonical answer text: commands joined by ", " and ended by "."."""
    if not cmds:
        raise CommandError("an answer needs at least one command")
    return ", ".join(format_command(c) for c in cmds) + TERMINATOR


def tokenize_answer(text: str) -> list[str]:
    """Split answer text into grammar words (see module docstring); raises on characters no word can hold."""
    words: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _LEXEME_RE.match(text, pos)
        assert m is not None  # the pattern always matches one non-space character
        if m.group(2) is not None:
            raise CommandError(f"unexpected character {m.group(2)!r} at {m.start(2)} in {text!r}")
        words.append(m.group(1))
        pos = m.end()
    return words


def command_from_words(words: Sequence[str]) -> Command:
    """Build a Command from the words of one command (no separator/terminator); raises CommandError."""
    shown = " ".join(words)
    if not words:
        raise CommandError("empty command")
    action, rest = words[0], list(words[1:])
    if action not in ACTIONS:
        raise CommandError(f"unknown action {action!r} in {shown!r} (expected one of {', '.join(ACTIONS)})")
    if action == "stop":
        if rest:
            raise CommandError(f"'stop' takes nothing after it, got {' '.join(rest)!r}")
        return Command("stop")
    direction: str | None = None
    if action in ("turn", "sidestep"):
        if not rest or rest[0] not in SIDES:
            raise CommandError(f"'{action}' must be followed by left or right in {shown!r}")
        direction, rest = rest[0], rest[1:]
    if len(rest) != 1:
        raise CommandError(f"'{action}' needs exactly one amount in {shown!r}")
    number = rest[0]
    if action in METRE_ACTIONS:
        if not _METRES_RE.fullmatch(number):
            raise CommandError(f"'{action}' amount must be metres with a point like 1.0, got {number!r} in {shown!r}")
    elif not _DEGREES_RE.fullmatch(number):
        raise CommandError(f"{action} amount must be whole degrees like 30, got {number!r} in {shown!r}")
    return Command(action, direction, float(number))


def parse_command(text: str) -> Command:
    """Parse one command (surrounding whitespace allowed, no separator or terminator)."""
    words = tokenize_answer(text)
    if any(w in (SEPARATOR, TERMINATOR) for w in words):
        raise CommandError(f"one command expected, got separator/terminator in {text!r}")
    return command_from_words(words)


def parse_answer(text: str) -> list[Command]:
    """Parse a whole answer: one or more commands separated by "," and ended by "."."""
    words = tokenize_answer(text)
    if not words:
        raise CommandError("empty answer")
    if words[-1] != TERMINATOR:
        raise CommandError(f"answer must end with '.': {text!r}")
    if TERMINATOR in words[:-1]:
        raise CommandError(f"text after the terminating '.' in {text!r}")
    commands: list[Command] = []
    current: list[str] = []
    for word in words[:-1] + [SEPARATOR]:
        if word == SEPARATOR:
            commands.append(command_from_words(current))
            current = []
        else:
            current.append(word)
    return commands


def quantize_degrees(angle_deg: float) -> int:
    """Nearest canonical bin for |angle| (0 when below half a bin: no turn needed), capped at 180."""
    step = CANONICAL_DEGREES[0]
    return int(min(MAX_DEGREES, step * round(abs(angle_deg) / step)))


def quantize_metres(distance_m: float, *, mode: str = "nearest") -> float:
    """Canonical metre bin for |distance|: the nearest bin (0.0 below half the smallest), or with
    ``mode="floor"`` the largest bin not above it (0.0 below the smallest), never overshooting.
    Capped at the largest bin either way."""
    d = abs(distance_m)
    if mode == "floor":
        fitting = [v for v in CANONICAL_METRES if v <= d + 1e-9]
        return max(fitting) if fitting else 0.0
    if mode != "nearest":
        raise ValueError(f"mode must be 'nearest' or 'floor', got {mode!r}")
    if d < CANONICAL_METRES[0] / 2:
        return 0.0
    return min(CANONICAL_METRES, key=lambda v: (abs(v - d), v))


def answer_vocabulary() -> list[str]:
    """Every word an expert answer can contain (keywords, canonical amounts, ',' and '.'), in a fixed order."""
    words = list(ACTIONS) + list(SIDES)
    words += [str(d) for d in CANONICAL_DEGREES]
    words += [format_metres(m) for m in CANONICAL_METRES]
    return words + [SEPARATOR, TERMINATOR]


# ---- the language as one regular expression (for a token-level constraint) --------------------------
MAX_ANSWER_COMMANDS = 4  # a constrained answer holds at most this many commands, so it always ends
_MAX_DECIMALS = 2  # metres are written with one or two decimals under the constraint (format_metres' precision)


def _amounts(action: str) -> list[str]:
    """Every amount text ``command_from_words`` accepts for ``action`` in its shortest form (no leading zeros;
    metres with one or two decimals): the validator itself decides, so the pattern cannot drift from it."""
    if action in METRE_ACTIONS:
        cap = int(MAX_METRES) + 1
        texts = [f"{i}.{d:0{n}d}" for i in range(cap) for n in range(1, _MAX_DECIMALS + 1) for d in range(10**n)]
    else:
        texts = [str(i) for i in range(int(MAX_DEGREES) + 1)]
    words = [[action, "left", t] if action in ("turn", "sidestep") else [action, t] for t in texts]
    out = []
    for text, ws in zip(texts, words, strict=True):
        try:
            command_from_words(ws)
        except CommandError:
            continue
        out.append(text)
    return out


def _trie_pattern(words: Sequence[str]) -> str:
    """A regular expression matching exactly ``words``, factored by common prefixes ("1", "15", "150" ->
    ``1(?:5(?:0)?)?``): the same language as their alternation, far fewer parser states for a grammar engine."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


@lru_cache(maxsize=8)
def answer_pattern(max_commands: int = MAX_ANSWER_COMMANDS) -> str:
    """The answers ``parse_answer`` accepts, as a regular expression a grammar library compiles: canonical
    single spaces between words, at most one space around "," and before ".", an optional leading space (a
    word-level tokenizer's pieces decode with one), 1..``max_commands`` commands, then the terminator. Built
    from this module's own tables and validator; every match parses (``test_grammar`` checks it). Built once
    (about 20 ms) and kept."""
    if max_commands < 1:
        raise ValueError(f"max_commands must be >= 1, got {max_commands}")
    side = "(?:" + "|".join(SIDES) + ")"
    alts = []
    for action in ACTIONS:
        if action == "stop":
            alts.append("stop")
            continue
        amount = "(?:" + _trie_pattern(_amounts(action)) + ")"
        words = [action, side, amount] if action in ("turn", "sidestep") else [action, amount]
        alts.append(" ".join(words))
    command = "(?:" + "|".join(alts) + ")"
    sep = f" ?{re.escape(SEPARATOR)} ?"
    return f" ?{command}(?:{sep}{command}){{0,{max_commands - 1}}} ?{re.escape(TERMINATOR)}"

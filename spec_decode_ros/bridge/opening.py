"""An OPEN in the verifier between its arrival and its answer: the stages it passes and the moves between them.

    ENCODING ──▶ ENCODED ──▶ PREFILLED ──▶ OPENED      (an OPEN with committed tokens: prefill, then resume)
                     └──────────────────────▶ OPENED      (a fresh OPEN: prefilled, or its prefill deferred)
    any of the first three ─────────────────▶ FAILED

Admitted on arrival (``SessionTable.admit``), its image and prompt are encoded on a worker thread (ENCODING); then
it waits for its prefill (ENCODED); one with committed tokens waits, prefilled, for its resume (PREFILLED). OPENED and
FAILED are answered: OPENED hands its target session to the session table, FAILED answers an ERROR and closes the
target session it had. ``Opening.move`` is the one place the stage changes; the server acts on entering a stage.
"""

from __future__ import annotations

import enum
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.sessions import Admission

if TYPE_CHECKING:
    from spec_decode_ros.decoding.models import EncodedPrompt


class Stage(enum.Enum):
    ENCODING = "encoding"  # admitted; its image and prompt are being encoded on the worker
    ENCODED = "encoded"  # waits for its prefill forward
    PREFILLED = "prefilled"  # holds its target session; waits for its resume forward over the committed tokens
    OPENED = "opened"  # answered OPENED: its target session is the session table's
    FAILED = "failed"  # answered ERROR: the target session it had is closed


MOVES: dict[Stage, frozenset[Stage]] = {
    Stage.ENCODING: frozenset({Stage.ENCODED, Stage.FAILED}),
    Stage.ENCODED: frozenset({Stage.PREFILLED, Stage.OPENED, Stage.FAILED}),
    Stage.PREFILLED: frozenset({Stage.OPENED, Stage.FAILED}),
    Stage.OPENED: frozenset(),
    Stage.FAILED: frozenset(),
}
ANSWERED = frozenset({Stage.OPENED, Stage.FAILED})


@dataclass
class Opening:
    """One OPEN under way: what it asked, where to answer, its admission, its encoding (a worker's future), the
    frames its connection sent behind it (``parked``, with their owners, in order), and the forward time it waited."""

    msg: p.Open
    route: list[bytes]
    owner: str | None
    admission: Admission
    encoding: Future[EncodedPrompt]
    parked: list[tuple[bytes, str | None]] = field(default_factory=list)
    stage: Stage = Stage.ENCODING
    prompt: EncodedPrompt | None = None  # set on ENCODED
    session: Any = None  # the target session, from its prefill on
    busy_s: float = 0.0

    def move(self, to: Stage) -> None:
        """Change stage; a move ``MOVES`` does not list is a bug (``RuntimeError``)."""
        if to not in MOVES[self.stage]:
            raise RuntimeError(f"opening {self.msg.session!r}: no move from {self.stage.name} to {to.name}")
        self.stage = to

    @property
    def answered(self) -> bool:
        return self.stage in ANSWERED

    def can_move(self) -> bool:
        """Whether the server has anything to do for it now (an encoding still running has not)."""
        return self.stage is not Stage.ENCODING or self.encoding.done()

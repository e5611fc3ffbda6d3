"""``mode: auto`` on the robot: around one ``EdgeSession`` per answer, ask the chooser (``decoding.mode_choice``)
for the answer's mode and γ, and feed what the answer measured back into its estimates. Used alike by the draft
node, ``spec-decode bench`` and, through the node, ``spec-decode demo``.

The cost model's predictions take milliseconds (every mode at every γ over the recent answers' lengths: 2–6 ms on
this CPU, more on a Jetson), and so does reading an answer back (its first command's position). Neither runs as the
answer ends, when the robot is about to execute its first command: ``record`` only keeps the answer, and the
heartbeat's next ping (``observe_rtt``, every ``heartbeat_s`` while the robot executes and waits) reads it and
decides the next answer's choice. A request then starts on a choice already made, and only committing it (a few
counters) is on its way to the first command; without a ping in between (back-to-back requests), ``next()`` does
the work itself."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence

from spec_decode_ros.bridge.edge import EdgeConfig, EdgeResult, RoundEvent
from spec_decode_ros.bridge.protocol import MAX_GAMMA
from spec_decode_ros.decoding.mode_choice import Choice, ModeChooser

FirstCommand = float | Callable[[], float | None] | None  # seconds, or how to work them out


class AutoMode:
    """Per answer: ``config, choice = auto.next()``, run an ``EdgeSession`` with ``config`` collecting its
    ``RoundEvent``s, then ``auto.record(choice, rounds, result)``. ``base``: everything but mode and γ;
    ``objective``: what "fastest" means (``decoding.mode_choice.OBJECTIVES``: balanced, answer or first_command)."""

    def __init__(self, base: EdgeConfig, chooser: ModeChooser | None = None, objective: str = "balanced") -> None:
        self.base = base
        self.chooser = chooser if chooser is not None else ModeChooser(
            gamma=base.gamma, gammas=tuple(range(1, min(max(base.gamma, 8), MAX_GAMMA) + 1)), objective=objective)
        self._decided: Choice | None = None  # the next answer's choice, decided ahead
        self._unread: tuple[Choice, Sequence[RoundEvent], EdgeResult, FirstCommand] | None = None  # the last answer

    def next(self) -> tuple[EdgeConfig, Choice]:
        """The next answer's configuration and the choice behind it (decided ahead where it could be)."""
        choice = self.chooser.commit(self._decided if self._decided is not None else self.decide_ahead())
        self._decided = None
        return dataclasses.replace(self.base, mode=choice.mode, gamma=max(1, choice.gamma)), choice

    def decide_ahead(self) -> Choice:
        """Read the last answer, if not yet read, and decide the next answer's choice from the estimates as they are
        (``next()`` then only commits it)."""
        self._read()
        self._decided = self.chooser.decide()
        return self._decided

    def warming_up(self) -> bool:
        """The next answer is one of the warm-up's (each measurement family once)."""
        self._read()
        return self.chooser.warming_up()

    def record(self, choice: Choice, rounds: Sequence[RoundEvent], result: EdgeResult,
               first_command_s: FirstCommand = None) -> None:
        """The answer decoded as ``choice`` said: its rounds, its result and when its first command was complete
        (seconds from its start; None: not known; a function: worked out when the answer is read). Kept, not read:
        see the module's docstring."""
        self._read()
        self._unread, self._decided = (choice, rounds, result, first_command_s), None

    def observe_rtt(self, seconds: float) -> None:
        """A heartbeat's round trip: the last answer is read, and the next answer's choice decided with both."""
        self._read()
        self.chooser.estimates.observe_rtt(seconds)
        self.decide_ahead()

    def _read(self) -> None:
        """Feed the kept answer into the estimates."""
        if self._unread is None:
            return
        (choice, rounds, result, first_command), self._unread = self._unread, None
        first_command_s = first_command() if callable(first_command) else first_command
        self.chooser.observe_answer(choice.mode, rounds, len(result.tokens), result.first_token_s,
                                    tokens_until(result.token_times, first_command_s))


def tokens_until(token_times: Sequence[float], t_s: float | None) -> int | None:
    """How many tokens had been committed at ``t_s`` (at least 1; None when ``t_s`` is None or nothing came)."""
    if t_s is None or not token_times:
        return None
    return max(1, bisect.bisect_right(token_times, t_s + 1e-9))

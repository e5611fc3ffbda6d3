"""What the robot's session reports after each round (``RoundEvent``): the counts and the times of one DRAFT/FINAL
exchange. The session (``bridge.edge.EdgeSession``) makes them; the draft node publishes them as ``DecodeStats`` and
the mode chooser (``decoding.mode_estimates``) learns the link's and the models' costs from them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoundEvent:
    """One DRAFT/FINAL exchange, reported when its FINAL has been applied (times in seconds).

    ``draft_s``: drafting of this block on the robot (for a kept pre-draft, the part not overlapped with the
    previous round); ``early_s`` / ``final_s``: from sending DRAFT to receiving EARLY / FINAL (network + server);
    ``server_s``: the server's busy time of the batched forward; ``round_s``: start of drafting to FINAL applied.
    Cloud-autoregressive rounds have ``gamma`` 0 and no EARLY, and run from the OPEN (the first) or the previous
    FINAL. The first command's timeline: ``sent_at`` (``time.monotonic()``) when the DRAFT (cloud_ar: the OPEN
    or previous FINAL) went out; ``queued_s`` the round waited in the cloud's batching queue (FINAL);
    ``prefill_s`` the cloud's prompt prefill (OPENED) and ``draft_prefill_s`` the draft's on the robot, each
    reported once, on the first round after it (else 0)."""

    round: int
    gamma: int
    n_accepted: int
    committed: int
    early_sent: bool
    early_hit: bool
    draft_s: float
    early_s: float
    final_s: float
    server_s: float
    round_s: float
    sent_at: float = 0.0
    queued_s: float = 0.0
    prefill_s: float = 0.0
    draft_prefill_s: float = 0.0

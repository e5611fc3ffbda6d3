"""Whether the robot may be sent a motion now, and why not: the e-stop latch, arming and the operator's
lock, in one place for the Go2 bridge (pure logic, no ROS; the nodes feed it and act on what it says).

- **E-stop** (``estop``): latched. ``estop(reason)`` engages it (from the ``estop`` topic going true, the
  stop service, or the bridge's own published state); only ``resume()`` releases it, never the input
  going false.
- **Arming** (``armed``): a real robot starts disarmed (``armed_at_start: false``); ``arm()`` /
  ``disarm()``. The simulated demo starts armed.
- **Lock** (``locked``): an operator (a joystick behind twist_mux) holds the VLM off while true, released
  when the lock input goes false, as twist_mux's locks do.

``blocked()`` is the first reason nothing may move (None: free to move).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MotionGate:
    armed: bool = False
    estop_reason: str | None = None  # the e-stop is engaged while this is set
    locked: bool = False

    @property
    def estopped(self) -> bool:
        return self.estop_reason is not None

    def estop(self, reason: str) -> bool:
        """Engage the e-stop; True when it was not engaged before (the caller stops the robot either way)."""
        newly = self.estop_reason is None
        if newly:
            self.estop_reason = reason
        return newly

    def resume(self) -> bool:
        """Release the e-stop; True when it was engaged."""
        was, self.estop_reason = self.estop_reason is not None, None
        return was

    def blocked(self) -> str | None:
        if self.estop_reason is not None:
            return f"e-stop ({self.estop_reason}); resume to move again"
        if not self.armed:
            return "not armed (call the arm service)"
        if self.locked:
            return "locked by the operator (lock input true)"
        return None

"""The Go2's sport modes (``SportModeState_.mode``) and when the robot is ready to be sent ``Move``.

Mode numbers from Unitree's own documentation of ``SportModeState`` (the ``mode`` field's comment in
Unitree's unitree_ros2 README and the "sports services" page of support.unitree.com it links to):
0 idle (default stand), 1 balanceStand, 2 pose, 3 locomotion, 4 reserve, 5 lieDown, 6 jointLock,
7 damping, 8 recoveryStand, 9 reserve, 10 sit, 11 frontFlip, 12 frontJump, 13 frontPounce.

Ready by default: 1 balanceStand (standing, takes Move) and 3 locomotion (walking); a standing body
height (``body_height`` at least ``min_body_height_m``, 0.2 m: the Go2 stands at about 0.3 m and lies at
under 0.1 m). A lab whose robot reports 0 when standing idle adds it through ``ready_modes``.
"""

from __future__ import annotations

GO2_MODE_NAMES: dict[int, str] = {
    0: "idle", 1: "balanceStand", 2: "pose", 3: "locomotion", 4: "reserve", 5: "lieDown", 6: "jointLock",
    7: "damping", 8: "recoveryStand", 9: "reserve", 10: "sit", 11: "frontFlip", 12: "frontJump",
    13: "frontPounce",
}
BALANCE_STAND, LOCOMOTION, LIE_DOWN, JOINT_LOCK, DAMPING = 1, 3, 5, 6, 7
READY_MODES: tuple[int, ...] = (BALANCE_STAND, LOCOMOTION)
MIN_BODY_HEIGHT_M = 0.2


def mode_name(mode: int) -> str:
    return f"{mode} ({GO2_MODE_NAMES.get(mode, 'unknown')})"


def not_ready_reason(mode: int, body_height_m: float, ready_modes: tuple[int, ...] = READY_MODES,
                     min_body_height_m: float = MIN_BODY_HEIGHT_M) -> str | None:
    """Why a robot in ``mode`` with ``body_height_m`` must not be sent Move (None: it is ready)."""
    if mode not in ready_modes:
        return f"mode {mode_name(mode)} is not a locomotion mode ({', '.join(mode_name(m) for m in ready_modes)})"
    if not body_height_m >= min_body_height_m:
        return f"body height {body_height_m:.2f} m is not standing (>= {min_body_height_m:.2f} m)"
    return None

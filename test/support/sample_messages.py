"""One fully populated instance of each custom message, and a field-by-field comparison."""

from __future__ import annotations

import dataclasses
from typing import Any


def build_samples() -> dict[str, Any]:
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    from spec_decode_ros.msg import DecodeStats, LinkStatus, LocomotionCommand, TokenStream

    header = Header(stamp=Time(sec=1_700_000_123, nanosec=456_789), frame_id="base_link")
    image_stamp = Time(sec=1_700_000_122, nanosec=999_000_001)
    cmd = LocomotionCommand(header=header, action=LocomotionCommand.ACTION_MOVE, text="turn left 30",
                            vx=0.25, vy=-0.5, vyaw=1.5, duration=0.75, image_stamp=image_stamp,
                            request_id=2**40 + 7, index=3)
    tokens = TokenStream(header=header, request_id=42, round=9, token_ids=[1, 49151, 0, 17],
                         text="turn left 30, ünïcode", final=True, image_stamp=image_stamp)
    stats = DecodeStats(header=header, request_id=42, mode=DecodeStats.MODE_SD_EE_PREDRAFT, round=4,
                        draft_tokens=4, accepted_tokens=3, early_exit_sent=True, early_exit_hit=True,
                        draft_ms=12.5, early_ms=40.25, verify_ms=80.5, server_ms=21.0, round_ms=101.0,
                        num_drafts=4, num_draft_tokens=16, num_accepted_tokens=11, num_committed_tokens=15,
                        early_exit_hits=3, early_exit_misses=1, acceptance_rate=0.6875,
                        mean_acceptance_length=3.75, image_stamp=image_stamp,
                        request_stamp=Time(sec=1_700_000_123, nanosec=1_000), sent_ms=31.5, draft_prefill_ms=7.25,
                        prefill_ms=22.75, queued_ms=1.5)
    link = LinkStatus(header=header, state=LinkStatus.STATE_UNREACHABLE, endpoint="tcp://127.0.0.1:5555",
                      detail="no reply for 2.0 s", rtt_ms=1.25)
    return {"LocomotionCommand": cmd, "TokenStream": tokens, "DecodeStats": stats, "LinkStatus": link}


def as_plain(msg: Any) -> Any:
    """A message (rclpy or rosbags) as nested plain Python values, for comparison."""
    if hasattr(msg, "get_fields_and_field_types"):
        return {name: as_plain(getattr(msg, name)) for name in msg.get_fields_and_field_types()}
    if dataclasses.is_dataclass(msg):
        return {f.name: as_plain(getattr(msg, f.name)) for f in dataclasses.fields(msg)
                if f.name != "__msgtype__" and not f.name.isupper()}
    if hasattr(msg, "tolist"):
        return msg.tolist()
    if isinstance(msg, list | tuple):
        return [as_plain(v) for v in msg]
    if isinstance(msg, float):
        return round(msg, 4)
    return msg

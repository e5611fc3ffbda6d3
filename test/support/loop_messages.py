"""A synthetic but complete trace of the loop's messages with known hop latencies, for recorder and
report tests: request i's image at T0 + i s; first token +100 ms; first command +120 ms; Move +125 ms.
The first round's stats give the first command's timeline ``TIMELINE_MS`` (request start +10 ms, DRAFT sent
+40 ms after 12 ms of preparing, an 8 ms draft prefill and a 10 ms block; FINAL received +100 ms: 25 ms of
prefill of which 18 hidden, 3 ms queued, a 20 ms forward, 30 ms network)."""

from __future__ import annotations

from typing import Any

T0_NS = 1_700_000_000_000_000_000
HOP_MS = {"capture_to_first_token": 100.0, "first_token_to_first_command": 20.0, "first_command_to_move": 5.0,
          "capture_to_move": 125.0}
TIMELINE_MS = {"capture_to_request": 10.0, "robot_prepare": 12.0, "draft_prefill": 8.0, "draft_block": 10.0,
               "cloud_prefill": 7.0, "cloud_queue": 3.0, "cloud_forward": 20.0, "network": 30.0,
               "final_to_command": 20.0, "command_to_move": 5.0}


def _time(ns: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def loop_trace(requests: int = 3) -> list[tuple[str, Any]]:
    """(topic, message) pairs in publication order."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from spec_decode_ros import topics
    from spec_decode_ros.msg import DecodeStats, LocomotionCommand, TokenStream

    ms = 1_000_000
    out: list[tuple[str, Any]] = []
    for i in range(requests):
        t = T0_NS + i * 1_000_000_000
        img = _time(t)
        out.append((topics.CAMERA_IMAGE, Image(header=Header(stamp=img, frame_id="front_camera"), height=2, width=2,
                                               encoding="rgb8", step=6, data=bytes(12))))
        out.append((topics.TOKENS, TokenStream(header=Header(stamp=_time(t + 100 * ms)), request_id=i, round=1,
                                               token_ids=[5, 6, 7], text="turn left 30", image_stamp=img)))
        out.append((topics.MOTION, LocomotionCommand(header=Header(stamp=_time(t + 120 * ms)), action="move",
                                                     text="turn left 30", vyaw=0.5, duration=1.0, image_stamp=img,
                                                     request_id=i)))
        out.append((topics.EXECUTED, LocomotionCommand(header=Header(stamp=_time(t + 125 * ms)), action="move",
                                                       text="turn left 30", vyaw=0.5, duration=1.0,
                                                       image_stamp=img, request_id=i)))
        out.append((topics.TOKENS, TokenStream(header=Header(stamp=_time(t + 150 * ms)), request_id=i, round=2,
                                               token_ids=[8, 2], text=".", final=True, image_stamp=img)))
        for r, hit in ((1, True), (2, False)):
            first = r == 1
            out.append((topics.STATS, DecodeStats(header=Header(stamp=_time(t + (100 + 50 * (r - 1)) * ms)),
                                                  request_id=i, mode="sd_ee_predraft", round=r, draft_tokens=4,
                                                  accepted_tokens=2 if hit else 1, early_exit_sent=True,
                                                  early_exit_hit=hit, draft_ms=10.0, early_ms=30.0, verify_ms=60.0,
                                                  server_ms=20.0, round_ms=75.0, image_stamp=img,
                                                  request_stamp=_time(t + 10 * ms), sent_ms=30.0 if first else 95.0,
                                                  draft_prefill_ms=8.0 if first else 0.0,
                                                  prefill_ms=25.0 if first else 0.0, queued_ms=3.0)))
    return out

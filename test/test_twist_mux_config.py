"""config/twist_mux/twist_mux.yaml matches what the nodes use: the VLM's Twists on the bridge's cmd_vel_vlm under
a joystick (go2_ros2_sdk's cmd_vel_joy), the e-stop lock above everything, the lock lock above the VLM only."""

from __future__ import annotations

from pathlib import Path

import yaml

from spec_decode_ros import topics

ROOT = Path(__file__).resolve().parents[1]


def test_the_joystick_wins_and_the_locks_are_the_nodes_inputs():
    params = yaml.safe_load((ROOT / "config" / "twist_mux" / "twist_mux.yaml").read_text())["twist_mux"]
    inputs, locks = params["ros__parameters"]["topics"], params["ros__parameters"]["locks"]
    by_topic = {entry["topic"]: entry["priority"] for entry in inputs.values()}
    assert by_topic[topics.CMD_VEL_VLM] < by_topic["cmd_vel_joy"]
    lock_priority = {entry["topic"]: entry["priority"] for entry in locks.values()}
    assert lock_priority[topics.ESTOP] > max(by_topic.values())
    assert by_topic[topics.CMD_VEL_VLM] < lock_priority[topics.LOCK] < by_topic["cmd_vel_joy"]

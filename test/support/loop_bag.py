"""A demo-like bag written the way the recorder writes one: the loop trace plus odometry, through
``DerivedStreams`` (camera as JPEG, answers, /tf) into an MCAP bag with absolute topic names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import BagWriter
from spec_decode_ros.analysis.derived import DerivedStreams, absolute
from support.loop_messages import T0_NS, _time, loop_trace


def odom_trace(seconds: float = 3.0, hz: float = 20.0) -> list[tuple[int, Any]]:
    """(stamp ns, Odometry): the robot drives 0.5 m/s along +x, turning at 0.2 rad/s, from the origin."""
    from nav_msgs.msg import Odometry

    out = []
    for i in range(int(seconds * hz)):
        t = i / hz
        yaw = 0.2 * t
        msg = Odometry()
        msg.header.stamp, msg.header.frame_id, msg.child_frame_id = _time(T0_NS + int(t * 1e9)), "odom", "base_link"
        msg.pose.pose.position.x, msg.pose.pose.position.y = 0.5 * t, 0.05 * t * t
        msg.pose.pose.orientation.w, msg.pose.pose.orientation.z = math.cos(yaw / 2), math.sin(yaw / 2)
        msg.twist.twist.linear.x, msg.twist.twist.angular.z = 0.5, 0.2
        out.append((T0_NS + int(t * 1e9), msg))
    return out


def loop_with_odometry(requests: int = 3) -> list[tuple[int, str, Any]]:
    """(log time ns, topic, message) of the loop trace and odometry, in time order."""
    from spec_decode_ros.analysis.bag import stamp_ns

    events = []
    for topic, msg in loop_trace(requests):
        stamp = msg.header.stamp
        events.append((stamp_ns(stamp) if stamp_ns(stamp) else T0_NS, topic, msg))
    events += [(t, topics.ODOM, msg) for t, msg in odom_trace(seconds=requests)]
    return sorted(events, key=lambda e: e[0])


def write_loop_bag(path: Path, requests: int = 3, camera: str = "jpeg") -> Path:
    """Write the demo-like bag at ``path`` (a rosbag2 folder) and return it."""
    from rclpy.serialization import serialize_message

    derived = DerivedStreams(camera)
    writer = BagWriter(path, {absolute(t): ty for t, ty in derived.types(topics.TYPES).items()})
    for log_ns, topic, msg in loop_with_odometry(requests):
        for name, cdr in derived.feed(topic, serialize_message(msg)):
            writer.write(absolute(name), log_ns, cdr)
    writer.close()
    return path

"""The QoS of every topic of the graph, in one place, chosen so that the tools a lab already runs (Nav2, RViz,
``ros2 topic echo``/``pub``, rosbag2) talk to these nodes with their defaults (reliable, volatile, depth 10).

- Sensor streams (``camera/image_raw``, ``camera/camera_info``) are sensor-data (best effort, volatile, depth 5),
  as every ROS camera driver publishes them: a default (reliable) publisher still reaches our subscriptions;
  a subscriber must ask for best effort (RViz's and ``ros2 topic echo``'s sensor-data setting) to hear them.
- Everything else is published reliable, so a reliable subscriber (Nav2's ``odom``, a ``twist_mux`` on
  ``cmd_vel``, ``ros2 topic echo`` with its defaults) receives it.
- State topics (``instruction``, ``decoder/link``, the bridge's ``estop/state`` and ``armed``) are latched for the late joiner *and* reachable from a plain
  volatile publisher: the publisher is transient-local (depth 1), and a subscriber listens twice
  (``subscribe_state``): once volatile, which matches any reliable publisher (``ros2 topic pub`` included), and
  once transient-local, which also receives the last message published before it started. A message from a
  transient-local publisher can arrive on both: the callbacks treat a state they already hold as no news.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data

from spec_decode_ros import topics

SENSOR_QOS = qos_profile_sensor_data  # best effort, volatile, keep last 5
RELIABLE_QOS = QoSProfile(depth=50, reliability=QoSReliabilityPolicy.RELIABLE)  # volatile
LATCHED_QOS = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                         durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)

# latched publisher, subscribed both ways (subscribe_state)
STATE_TOPICS = (topics.INSTRUCTION, topics.LINK, topics.ESTOP_STATE, topics.ARMED)


def publisher_qos(topic: str) -> QoSProfile:
    """The QoS a node of this package publishes ``topic`` with (a relative name of ``topics``)."""
    if topic in topics.SENSOR_DATA:
        return SENSOR_QOS
    if topic in STATE_TOPICS:
        return LATCHED_QOS
    return RELIABLE_QOS


def subscription_qos(topic: str) -> QoSProfile:
    """The QoS a node of this package subscribes ``topic`` with (state topics: see ``subscribe_state``): the
    sensor-data pair best effort (which a publisher of either reliability matches), the rest reliable (the
    recorder keeps every token, command and odometry message)."""
    return SENSOR_QOS if topic in topics.SENSOR_DATA else RELIABLE_QOS


def subscribe_state(node: Node, msg_type: type, topic: str, callback: Callable[[Any], None]) -> None:
    """Subscribe a state topic twice: volatile (any reliable publisher reaches it, ``ros2 topic pub`` too) and
    transient-local (the last message latched before this node started). ``callback`` may see one message twice."""
    node.create_subscription(msg_type, topic, callback, RELIABLE_QOS)
    node.create_subscription(msg_type, topic, callback, LATCHED_QOS)

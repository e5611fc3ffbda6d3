"""The ROS side of the safety inputs every node shares: the lab limits as parameters, and the e-stop as the
motion and draft nodes follow it (the ``estop`` input engages at once; the Go2 bridge's latched
``estop/state`` engages and releases: only the bridge's resume service ends an e-stop)."""

from __future__ import annotations

from collections.abc import Callable

from rclpy.node import Node
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from std_msgs.msg import Bool

from spec_decode_ros import topics
from spec_decode_ros.control.limits import LAB_DEFAULTS, LabLimits
from spec_decode_ros.nodes.qos import subscribe_state

# the estop / lock inputs: reliable, volatile, as `ros2 topic pub`, a joystick node or a GUI publishes them
INPUT_QOS = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)


def declare_lab_limits(node: Node) -> LabLimits:
    """``max_vx``, ``max_vy``, ``max_vyaw``, ``max_duration_s``, ``max_distance_m`` (defaults: ``LAB_DEFAULTS``)."""
    d = LAB_DEFAULTS
    return LabLimits(max_vx=float(node.declare_parameter("max_vx", d.max_vx).value),
                     max_vy=float(node.declare_parameter("max_vy", d.max_vy).value),
                     max_vyaw=float(node.declare_parameter("max_vyaw", d.max_vyaw).value),
                     max_duration_s=float(node.declare_parameter("max_duration_s", d.max_duration_s).value),
                     max_distance_m=float(node.declare_parameter("max_distance_m", d.max_distance_m).value))


class EStopFollower:
    """Calls ``on_engage(reason)`` when the e-stop input goes true or the bridge reports it engaged, and
    ``on_release()`` when the bridge reports it released; ``engaged`` is the state it follows."""

    def __init__(self, node: Node, on_engage: Callable[[str], None], on_release: Callable[[], None]) -> None:
        self.engaged = False
        self._on_engage, self._on_release = on_engage, on_release
        node.create_subscription(Bool, topics.ESTOP, self._input, INPUT_QOS)
        subscribe_state(node, Bool, topics.ESTOP_STATE, self._state)  # latched, and from `ros2 topic pub` too

    def _input(self, msg: Bool) -> None:
        if msg.data:
            self._engage(f"{topics.ESTOP} input")

    def _state(self, msg: Bool) -> None:
        if msg.data:
            self._engage(f"{topics.ESTOP_STATE} engaged")
        elif self.engaged:
            self.engaged = False
            self._on_release()

    def _engage(self, reason: str) -> None:
        first = not self.engaged
        self.engaged = True
        if first:
            self._on_engage(reason)

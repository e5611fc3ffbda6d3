"""Topic names and message types of the node graph, in one place (no ROS import needed).

Relative names, so a namespace (e.g. one per robot) applies to all of them; remap in launch files.
"""

from __future__ import annotations

CAMERA_IMAGE = "camera/image_raw"  # sensor_msgs/Image, frame "front_camera", sensor-data QoS
CAMERA_INFO = "camera/camera_info"  # sensor_msgs/CameraInfo beside each image (same stamp and frame), sensor-data QoS
INSTRUCTION = "instruction"  # std_msgs/String: the current natural-language instruction
TOKENS = "decoder/tokens"  # spec_decode_ros/TokenStream: committed tokens as they become final
STATS = "decoder/stats"  # spec_decode_ros/DecodeStats: one per speculative round
LINK = "decoder/link"  # spec_decode_ros/LinkStatus: cloud reachability (latched)
MOTION = "motion/command"  # spec_decode_ros/LocomotionCommand: parsed, clamped commands
CMD_VEL = "cmd_vel"  # geometry_msgs/Twist for Gazebo / CHAMP
EXECUTED = "go2/executed"  # spec_decode_ros/LocomotionCommand re-stamped when the SDK call was made
MOTION_DONE = "motion/done"  # std_msgs/UInt64: request_id of an answer whose execution ended
ODOM = "odom"  # nav_msgs/Odometry from the Go2's sport state: frame "odom" -> child "base_link"
ESTOP = "estop"  # std_msgs/Bool in: true engages the e-stop (a joystick button, a GUI); false does not release it
ESTOP_STATE = "estop/state"  # std_msgs/Bool, latched: the Go2 bridge's e-stop state (true: engaged)
ARMED = "armed"  # std_msgs/Bool, latched: the Go2 bridge is armed (may send Move)
LOCK = "lock"  # std_msgs/Bool in: true pauses the VLM (no request, no Move) until false, like a twist_mux lock
CMD_VEL_VLM = "cmd_vel_vlm"  # geometry_msgs/Twist: the bridge's velocities for twist_mux (velocity_output: cmd_vel)
# services (std_srvs/Trigger) of the Go2 bridge
ESTOP_STOP_SERVICE = "estop/stop"  # engage the e-stop
ESTOP_RESUME_SERVICE = "estop/resume"  # release it (nothing else does)
ARM_SERVICE = "arm"
DISARM_SERVICE = "disarm"
SENSOR_DATA = (CAMERA_IMAGE, CAMERA_INFO)  # published with sensor-data QoS (best effort); every other one reliable
# (each topic's QoS: spec_decode_ros/nodes/qos.py)

# derived by the recorder and the live view (spec_decode_ros/analysis/derived.py), not published on ROS
CAMERA_JPEG = CAMERA_IMAGE + "/compressed"  # sensor_msgs/CompressedImage (JPEG) of the camera
ANSWER = "decoder/answer"  # std_msgs/String: one request's whole answer text, when its last token is final
TF = "/tf"  # tf2_msgs/TFMessage: odom -> base_link from ``odom`` (absolute, as every tf tool expects)

# topic -> rosbag2 message type, for the recorder and the report
TYPES: dict[str, str] = {
    CAMERA_IMAGE: "sensor_msgs/msg/Image",
    CAMERA_INFO: "sensor_msgs/msg/CameraInfo",
    INSTRUCTION: "std_msgs/msg/String",
    TOKENS: "spec_decode_ros/msg/TokenStream",
    STATS: "spec_decode_ros/msg/DecodeStats",
    LINK: "spec_decode_ros/msg/LinkStatus",
    MOTION: "spec_decode_ros/msg/LocomotionCommand",
    CMD_VEL: "geometry_msgs/msg/Twist",
    EXECUTED: "spec_decode_ros/msg/LocomotionCommand",
    MOTION_DONE: "std_msgs/msg/UInt64",
    ODOM: "nav_msgs/msg/Odometry",
    ESTOP_STATE: "std_msgs/msg/Bool",
    ARMED: "std_msgs/msg/Bool",
}
DERIVED_TYPES: dict[str, str] = {
    CAMERA_JPEG: "sensor_msgs/msg/CompressedImage",
    ANSWER: "std_msgs/msg/String",
    TF: "tf2_msgs/msg/TFMessage",
}

"""camera node: frames from an OpenCV source (device index, video file, stream URL) or the Go2
front camera (``VideoClient.GetImageSample``) → ``sensor_msgs/Image`` (rgb8) on
``camera/image_raw``, frame ``front_camera``, sensor-data QoS, stamped at capture with the node's clock
(simulated time under ``use_sim_time``), and beside each image a ``sensor_msgs/CameraInfo`` on
``camera/camera_info`` with the same stamp and frame: an ideal pinhole of vertical field of view ``fov_y_deg``
(default: the simulated Go2's MuJoCo camera; set a real camera's calibration there, or remap to its driver).

Parameters: ``source`` ("opencv" | "go2"), ``device`` (OpenCV: "0", a path (played in a loop) or a URL),
``network_interface`` (Go2 DDS, e.g. "eth0"; "lo" for the fake Go2), ``go2_domain_id`` (the
Go2's DDS domain, 0 on the robot), ``rate_hz``,
``width``/``height`` (0 keeps the native size), ``frame_id``, ``fov_y_deg``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from spec_decode_ros import topics
from spec_decode_ros.go2.camera_model import FRONT_CAMERA_FOVY_DEG, pinhole_intrinsics
from spec_decode_ros.nodes.common import now_stamp, run_node
from spec_decode_ros.nodes.qos import publisher_qos


def opencv_source(device: str) -> Callable[[], np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(int(device) if device.isdigit() else device)
    if not capture.isOpened():
        raise RuntimeError(f"OpenCV cannot open camera source {device!r}")

    is_file = not device.isdigit() and "://" not in device

    def read() -> np.ndarray:
        ok, bgr = capture.read()
        if not ok and is_file:  # a video file plays in a loop
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = capture.read()
        if not ok:
            raise RuntimeError(f"no frame from OpenCV source {device!r}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    return read


def go2_source(interface: str, domain_id: int) -> Callable[[], np.ndarray]:
    from spec_decode_ros.go2.clients import Go2Camera

    return Go2Camera(interface, domain_id=domain_id).rgb


class Camera(Node):
    def __init__(self) -> None:
        super().__init__("camera")
        source = self.declare_parameter("source", "opencv").value
        device = str(self.declare_parameter("device", "0").value)
        interface = self.declare_parameter("network_interface", "eth0").value
        domain = int(self.declare_parameter("go2_domain_id", 0).value)
        rate = float(self.declare_parameter("rate_hz", 10.0).value)
        self.size = (int(self.declare_parameter("width", 0).value), int(self.declare_parameter("height", 0).value))
        self.frame_id = self.declare_parameter("frame_id", "front_camera").value
        self.fov_y_deg = float(self.declare_parameter("fov_y_deg", FRONT_CAMERA_FOVY_DEG).value)
        pinhole_intrinsics(1, 1, self.fov_y_deg)  # a bad field of view fails here, not at the first frame
        if source == "opencv":
            self.read = opencv_source(device)
        elif source == "go2":
            self.read = go2_source(interface, domain)
        else:
            raise ValueError(f"parameter source must be 'opencv' or 'go2', not {source!r}")
        self.image_pub = self.create_publisher(Image, topics.CAMERA_IMAGE, publisher_qos(topics.CAMERA_IMAGE))
        self.info_pub = self.create_publisher(CameraInfo, topics.CAMERA_INFO, publisher_qos(topics.CAMERA_INFO))
        self.failures = 0
        self.create_timer(1.0 / rate, self.capture)
        self.get_logger().info(f"camera: {source} {device if source == 'opencv' else interface} at {rate} Hz")

    def capture(self) -> None:
        try:
            rgb = self.read()
        except Exception as err:  # a dropped frame must not kill the node; say it, then keep trying
            self.failures += 1
            self.get_logger().warning(f"frame {self.failures} failed: {err}", throttle_duration_sec=5.0)
            return
        stamp = now_stamp(self)
        if self.size[0] > 0 and self.size[1] > 0 and rgb.shape[1::-1] != self.size:
            import cv2

            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", is_bigendian=0, step=rgb.shape[1] * 3)
        msg.header.stamp = stamp
        msg.header.frame_id = self.frame_id
        msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
        self.image_pub.publish(msg)
        self.info_pub.publish(camera_info(msg, self.fov_y_deg))


def camera_info(image: Image, fov_y_deg: float) -> CameraInfo:
    """The pinhole ``CameraInfo`` of ``image`` (its stamp, frame and size; no distortion)."""
    fx, fy, cx, cy = pinhole_intrinsics(image.width, image.height, fov_y_deg)
    info = CameraInfo(height=image.height, width=image.width, distortion_model="plumb_bob")
    info.header = image.header
    info.d = [0.0] * 5
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def image_to_rgb(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (rgb8 or bgr8) → H×W×3 uint8 RGB (no cv_bridge needed)."""
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"unsupported image encoding {msg.encoding!r} (want rgb8 or bgr8)")
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    rgb = rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
    return rgb[:, :, ::-1].copy() if msg.encoding == "bgr8" else rgb


def main(args: list[str] | None = None) -> int:
    return run_node(Camera, args)


if __name__ == "__main__":
    main()

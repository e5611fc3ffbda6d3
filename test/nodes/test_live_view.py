"""The live view node, as its own process, serves the loop's topics over the Foxglove WebSocket
protocol: a plain ``websockets`` client (offering ``foxglove.websocket.v1`` and ``foxglove.sdk.v1``, the
name foxglove-sdk 0.30 accepts) sees the channels
advertised with their ROS 2 schemas, subscribes, and receives camera (JPEG), answer and odometry
messages that decode as what real DDS publishers sent."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Image
from support.node_process import node_process, output_of
from support.ros import spinning_node, wait_for
from websockets.sync.client import connect

from spec_decode_ros import topics
from spec_decode_ros.analysis.typestore import typestore
from spec_decode_ros.msg import TokenStream
from spec_decode_ros.nodes.common import RELIABLE_QOS, SENSOR_QOS
from spec_decode_ros.process_group import free_port

pytestmark = pytest.mark.slow  # starts processes and DDS

# the Foxglove WebSocket protocol: "foxglove.websocket.v1" is its classic name, foxglove-sdk 0.30's server
# speaks it as "foxglove.sdk.v1" (same ops: serverInfo, advertise, subscribe, binary message data)
SUBPROTOCOLS = ["foxglove.websocket.v1", "foxglove.sdk.v1"]
WANTED = {"/camera/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
          "/decoder/answer": "std_msgs/msg/String", "/odom": "nav_msgs/msg/Odometry"}


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                out.add(address)
    return out


def connect_when_up(url: str, proc, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return connect(url, subprotocols=SUBPROTOCOLS, open_timeout=5)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no live view at {url}:\n{output_of(proc)}") from None
            time.sleep(0.2)


def advertised(ws) -> dict[str, dict]:
    channels: dict[str, dict] = {}
    deadline = time.monotonic() + 30
    while not set(WANTED) <= set(channels):
        assert time.monotonic() < deadline, f"channels advertised: {sorted(channels)}"
        frame = ws.recv(timeout=30)
        if isinstance(frame, str):
            msg = json.loads(frame)
            if msg["op"] == "advertise":
                channels.update({c["topic"]: c for c in msg["channels"]})
    return channels


def test_a_websocket_client_receives_camera_answer_and_odometry():
    port = free_port()
    with node_process("spec_decode_ros.nodes.live_view", port=port) as proc, spinning_node("live_source") as node:
        pubs = {topics.CAMERA_IMAGE: node.create_publisher(Image, topics.CAMERA_IMAGE, SENSOR_QOS),
                topics.TOKENS: node.create_publisher(TokenStream, topics.TOKENS, RELIABLE_QOS),
                topics.ODOM: node.create_publisher(Odometry, topics.ODOM, RELIABLE_QOS)}  # as the bridge does
        wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()) or proc.poll() is not None,
                 60, "the live view to subscribe")
        assert proc.poll() is None, output_of(proc)
        with connect_when_up(f"ws://127.0.0.1:{port}", proc) as ws:
            assert listening_addresses(port) == {"0100007F"}, "the live view must listen on loopback only by default"
            assert ws.subprotocol in SUBPROTOCOLS
            channels = advertised(ws)
            for topic, msgtype in WANTED.items():
                assert channels[topic]["encoding"] == "cdr" and channels[topic]["schemaName"] == msgtype
                assert channels[topic]["schemaEncoding"] == "ros2msg"
            assert "MSG: std_msgs/Header" in channels["/odom"]["schema"]
            subs = {i: topic for i, topic in enumerate(WANTED)}
            ws.send(json.dumps({"op": "subscribe", "subscriptions": [
                {"id": i, "channelId": channels[topic]["id"]} for i, topic in subs.items()]}))
            received: dict[str, bytes] = {}
            deadline = time.monotonic() + 60
            n = 0
            while set(received) != set(WANTED):
                assert time.monotonic() < deadline, f"received only {sorted(received)}"
                n += 1
                img = Image(height=8, width=8, encoding="rgb8", step=24, data=bytes([200, 30, 30] * 64))
                img.header.frame_id = "front_camera"
                pubs[topics.CAMERA_IMAGE].publish(img)
                pubs[topics.TOKENS].publish(TokenStream(request_id=n, text="forward "))
                pubs[topics.TOKENS].publish(TokenStream(request_id=n, text="2.0.", final=True))
                odom = Odometry()
                odom.header.frame_id, odom.child_frame_id = "odom", "base_link"
                odom.pose.pose.position.x = 1.5
                pubs[topics.ODOM].publish(odom)
                stop = time.monotonic() + 0.3
                while time.monotonic() < stop:
                    try:
                        frame = ws.recv(timeout=0.1)
                    except TimeoutError:
                        continue
                    if isinstance(frame, bytes) and frame[0] == 0x01:
                        sub_id, _log_time = struct.unpack_from("<IQ", frame, 1)
                        received[subs[sub_id]] = frame[13:]
    assert proc.returncode == 0, output_of(proc)
    store = typestore()
    jpeg = store.deserialize_cdr(received["/camera/image_raw/compressed"], WANTED["/camera/image_raw/compressed"])
    assert jpeg.format == "jpeg" and bytes(jpeg.data[:2]) == b"\xff\xd8"
    assert store.deserialize_cdr(received["/decoder/answer"], "std_msgs/msg/String").data == "forward 2.0."
    assert store.deserialize_cdr(received["/odom"], "nav_msgs/msg/Odometry").pose.pose.position.x == 1.5

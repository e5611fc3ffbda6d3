"""Custom messages written to an MCAP rosbag2 with `rosbags` read back equal, through both rosbags'
own deserializer and rclpy's."""

from __future__ import annotations

from pathlib import Path

from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from support.sample_messages import as_plain, build_samples

from spec_decode_ros.analysis.typestore import typestore


def test_custom_messages_roundtrip_through_an_mcap_bag(tmp_path: Path):
    samples = build_samples()
    store = typestore()
    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for i, (name, msg) in enumerate(samples.items()):
            conn = writer.add_connection(f"/samples/{name}", f"spec_decode_ros/msg/{name}", typestore=store)
            writer.write(conn, 1_000 + i, serialize_message(msg))

    assert list(bag.glob("*.mcap")), "no MCAP file written"
    seen = {}
    with Reader(bag) as reader:
        assert {c.msgtype for c in reader.connections} == {f"spec_decode_ros/msg/{n}" for n in samples}
        for conn, stamp, raw in reader.messages():
            name = conn.topic.rsplit("/", 1)[1]
            via_rosbags = store.deserialize_cdr(raw, conn.msgtype)
            via_rclpy = deserialize_message(bytes(raw), type(samples[name]))
            seen[name] = (stamp, via_rosbags, via_rclpy)
    assert set(seen) == set(samples)
    for name, msg in samples.items():
        _, via_rosbags, via_rclpy = seen[name]
        assert as_plain(via_rclpy) == as_plain(msg), name
        assert as_plain(via_rosbags) == as_plain(msg), name

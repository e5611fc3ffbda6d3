"""Write and read the loop's rosbag2 (MCAP) files with `rosbags` — no ROS install needed.

``BagWriter`` takes raw CDR bytes (as an rclpy ``raw=True`` subscription delivers them), so the
recorder never deserializes; ``read_bag`` turns a bag into plain per-topic event lists for analysis.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.serde import SerdeError

from spec_decode_ros.analysis.typestore import PACKAGE, bag_typestore, typestore
from spec_decode_ros.topics import TF


class BagWriter:
    """A thread-safe MCAP writer; connections are added on first use of a topic."""

    def __init__(self, path: str | Path, topics: dict[str, str]) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} already exists")
        self._types = dict(topics)
        self._store = typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._conns: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def write(self, topic: str, log_time_ns: int, cdr: bytes) -> None:
        with self._lock:
            if self._writer is None:
                return
            conn = self._conns.get(topic)
            if conn is None:
                if topic not in self._types:
                    raise KeyError(f"topic {topic!r} has no declared type")
                conn = self._conns[topic] = self._writer.add_connection(topic, self._types[topic],
                                                                        typestore=self._store)
            self._writer.write(conn, log_time_ns, cdr)
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


@dataclass
class BagData:
    """A bag as per-topic lists of (log time ns, deserialized message)."""

    path: Path
    topics: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)

    def messages(self, topic: str) -> list[tuple[int, Any]]:
        return self.topics.get(topic, [])


def topic_key(name: str) -> str:
    """A bag's topic name as ``topics`` spells it: ``/odom`` -> ``odom``; ``/tf`` stays absolute."""
    return name if name == TF else name.lstrip("/")


def read_bag(path: str | Path, topics: set[str] | None = None, keep_pixels: bool = False) -> BagData:
    """Read (a subset of) a bag's topics, keyed as ``topics`` names them (relative, whether the bag's
    names are absolute or not). Bulky payloads (Image.data) are dropped unless ``keep_pixels``."""
    store = typestore()
    data = BagData(Path(path))
    with Reader(path) as reader:
        conns = [c for c in reader.connections if topics is None or topic_key(c.topic) in topics]
        for conn, log_time, raw in reader.messages(connections=conns):
            msg = _deserialize(store, raw, conn, path)
            if conn.msgtype == "sensor_msgs/msg/Image" and not keep_pixels:
                msg.data = None  # keep stamps and sizes, not pixels
            data.topics.setdefault(topic_key(conn.topic), []).append((log_time, msg))
    return data


def _deserialize(store: Any, raw: bytes, conn: Any, path: str | Path) -> Any:
    """A message as our definition reads it or, for one of this package's types recorded before fields were
    added to it, as the definition in the bag does (the added fields are then absent)."""
    try:
        return store.deserialize_cdr(raw, conn.msgtype)
    except SerdeError as err:
        if not conn.msgtype.startswith(f"{PACKAGE}/") or conn.msgdef is None or not conn.msgdef.data:
            raise ValueError(f"bag {path}: a {conn.msgtype} message on {conn.topic} does not decode: {err}") from err
        try:
            return bag_typestore(conn.msgtype, conn.msgdef.data).deserialize_cdr(raw, conn.msgtype)
        except Exception as again:  # rosbags raises several kinds for a definition it cannot use
            raise ValueError(f"bag {path}: a {conn.msgtype} message on {conn.topic} decodes neither as this "
                             f"package defines it ({err}) nor as the bag does ({again})") from again


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (rosbags or rclpy) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)

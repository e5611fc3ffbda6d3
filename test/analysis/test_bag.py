"""Reading bags: one recorded before the timeline fields were added to ``DecodeStats`` still reads (with the
definition it carries; the report has every hop, and no timeline), and bytes that decode under no definition
get a clear error naming the topic."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from support.loop_messages import HOP_MS, loop_trace

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import read_bag
from spec_decode_ros.analysis.report import build_report
from spec_decode_ros.analysis.typestore import package_msg_files, typestore

STATS_TYPE = topics.TYPES[topics.STATS]
ADDED = "# where the round sits in its request"  # the comment that opens the fields added for the timeline


def old_store():
    """The type store of a checkout from before the timeline fields."""
    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for name, path in package_msg_files().items():
        text = path.read_text()
        types.update(get_types_from_msg(text.split(ADDED)[0] if name == STATS_TYPE else text, name))
    store.register(types)
    return store


def write_bag(path: Path, stats_store, stats_cdr=None) -> Path:
    """The loop trace as a bag whose DecodeStats connection is defined by ``stats_store``; ``stats_cdr``
    replaces each stats message's bytes."""
    new, old = typestore(), stats_store
    old_cls = old.types[STATS_TYPE]
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for i, (topic, msg) in enumerate(loop_trace(3)):
            store = old if topic == topics.STATS else new
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, topics.TYPES[topic], typestore=store)
            cdr = serialize_message(msg)
            if topic == topics.STATS:
                full = new.deserialize_cdr(cdr, STATS_TYPE)
                kept = old_cls(**{f.name: getattr(full, f.name) for f in dataclasses.fields(old_cls)})
                cdr = stats_cdr if stats_cdr is not None else old.serialize_cdr(kept, STATS_TYPE)
            writer.write(conns[topic], 1_000 + i, cdr)
    return path


def test_a_bag_from_before_the_timeline_fields_still_reads(tmp_path: Path):
    bag = write_bag(tmp_path / "old", old_store())
    stats = read_bag(bag, {topics.STATS}).messages(topics.STATS)
    assert len(stats) == 6 and not hasattr(stats[0][1], "request_stamp") and stats[0][1].verify_ms == 60.0
    figures = build_report([bag], tmp_path / "out")["bags"]["old"]["figures"]
    for hop, ms in HOP_MS.items():
        assert figures[f"{hop}_ms_median"] == pytest.approx(ms, abs=0.01), hop
    assert figures["first_command_requests"] == 0 and math.isnan(figures["first_command_sum_ms"])
    assert "first command timeline" in (tmp_path / "out" / "report.txt").read_text()


def test_bytes_that_decode_under_no_definition_get_a_clear_error(tmp_path: Path):
    bag = write_bag(tmp_path / "bad", typestore(), stats_cdr=b"\x00\x01\x00\x00" + bytes(10))
    with pytest.raises(ValueError, match="DecodeStats message on decoder/stats decodes neither as"):
        read_bag(bag, {topics.STATS})

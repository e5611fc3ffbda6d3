"""The shipped Foxglove layout (config/foxglove/spec_decode.json) loads: valid JSON, every panel in the
tree configured, and every topic and message path it names is in a demo-like bag, down to the field,
as an independent MCAP reader decodes it."""

from __future__ import annotations

import json
from pathlib import Path

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from support.loop_bag import write_loop_bag

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / "config" / "foxglove" / "spec_decode.json"


def _panels(tree) -> list[str]:
    return [tree] if isinstance(tree, str) else _panels(tree["first"]) + _panels(tree["second"])


def message_paths(layout: dict) -> list[str]:
    """Every topic or ``topic.field.path`` the panels read."""
    out: list[str] = []
    for panel_id, config in layout["configById"].items():
        kind = panel_id.split("!")[0]
        if kind == "Image":
            out.append(config["imageMode"]["imageTopic"])
        elif kind == "RawMessages":
            out.append(config["topicPath"])
        elif kind == "Plot":
            out += [p["value"] for p in config["paths"]]
            if config.get("xAxisVal") == "custom":
                out.append(config["xAxisPath"]["value"])
        elif kind == "3D":
            out += list(config["topics"])
    return out


def test_layout_is_valid_json_with_every_panel_configured():
    layout = json.loads(LAYOUT.read_text())
    panels = _panels(layout["layout"])
    assert sorted(panels) == sorted(layout["configById"])
    kinds = {p.split("!")[0] for p in panels}
    assert {"Image", "3D", "Plot", "RawMessages"} <= kinds


def test_layout_names_only_topics_and_fields_the_bag_has(tmp_path: Path):
    bag = write_loop_bag(tmp_path / "bag", requests=2)
    [mcap_file] = bag.glob("*.mcap")
    last: dict[str, object] = {}
    with open(mcap_file, "rb") as f:
        for _schema, channel, _message, msg in make_reader(f, decoder_factories=[DecoderFactory()]) \
                .iter_decoded_messages():
            last[channel.topic] = msg
    paths = message_paths(json.loads(LAYOUT.read_text()))
    assert {"/camera/image_raw/compressed", "/decoder/answer.data", "/odom", "/tf"} <= set(paths)
    assert any(p.startswith("/decoder/stats.") for p in paths)
    for path in paths:
        topic, *fields = path.split(".")
        assert topic in last, f"{path}: the bag has no topic {topic}"
        value = last[topic]
        for name in fields:
            assert hasattr(value, name), f"{path}: no field {name!r} in {type(value).__name__}"
            value = getattr(value, name)

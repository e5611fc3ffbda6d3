"""The two log formats: text lines with ``key=value`` fields (quoted when they hold spaces) and one JSON object
per line; ``--log-level`` filters."""

from __future__ import annotations

import io
import json
import logging

import pytest

from spec_decode_ros.service import logs

log = logging.getLogger("spec_decode_ros.cloud.test")


@pytest.fixture
def restore_root():
    root = logging.getLogger(logs.ROOT_LOGGER)
    level, propagate, handlers = root.level, root.propagate, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = propagate


def test_text_lines_carry_the_fields(restore_root):
    out = io.StringIO()
    logs.configure("info", "text", out)
    logs.event(log, logging.WARNING, "error_sent", code="bad_frame", reason="not a map", peer="robot1", session="")
    logs.event(log, logging.DEBUG, "hidden", x=1)
    line, = out.getvalue().splitlines()
    assert line.endswith(' WARNING spec_decode_ros.cloud.test error_sent code=bad_frame reason="not a map" '
                         'peer=robot1 session=""')


def test_json_lines_are_one_object_each(restore_root):
    out = io.StringIO()
    logs.configure("debug", "json", out)
    logs.event(log, logging.DEBUG, "session_closed", session="s", tokens=12, acceptance=0.5)
    record = json.loads(out.getvalue())
    assert record["event"] == "session_closed" and record["tokens"] == 12 and record["level"] == "DEBUG"
    with pytest.raises(ValueError, match="log format"):
        logs.configure("info", "xml", out)

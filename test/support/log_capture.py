"""``captured_logs``: this package's log lines during one test, as JSON objects (the operator's view of the cloud
side). The root conftest loads it as a plugin."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from spec_decode_ros.service import logs


class CapturedLogs:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def events(self, name: str) -> list[dict[str, object]]:
        return [line for line in self.lines() if line["event"] == name]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def captured_logs() -> Iterator[CapturedLogs]:
    captured = CapturedLogs()
    root = logging.getLogger(logs.ROOT_LOGGER)
    level, propagate = root.level, root.propagate
    handler = logs.configure("info", "json", captured.stream)
    yield captured
    root.removeHandler(handler)
    root.setLevel(level)
    root.propagate = propagate

"""``spec-decode cloud --replicas 2`` as a process: robots see one ordinary endpoint and get the target's output."""

from __future__ import annotations

import pytest
from bridge.tiny_pair import PROMPTS

from fleet.conftest import MAX_NEW
from spec_decode_ros.bench.cloud_process import CloudProcess, free_endpoint
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.decoding.types import Prompt


@pytest.mark.slow
def test_cloud_command_with_replicas_serves_the_targets_output(tmp_path, target_dir, draft, references):
    with CloudProcess(target_dir, free_endpoint(), "--replicas", "2", log=tmp_path / "cloud.log") as cloud:
        client = CloudClient(cloud.endpoint)
        for text in PROMPTS:
            assert EdgeSession(client, draft, Prompt(text), EdgeConfig(max_new_tokens=MAX_NEW)).run().tokens == \
                references[text]
        stats = client.request(p.StatsRequest(), p.Stats, 30)
        assert isinstance(stats, p.Stats) and stats.forwards > 0
        client.close()
    log = (tmp_path / "cloud.log").read_text()
    assert "2 replica(s)" in log


@pytest.mark.parametrize("argv", [["--replicas", "-1"], ["--ray-address", "127.0.0.1:6379"]])
def test_bad_fleet_options_exit_2(capsys, argv):
    from spec_decode_ros.cloud import command

    assert command.main(["--model", "embedded", *argv]) == 2
    assert "--replicas" in capsys.readouterr().err

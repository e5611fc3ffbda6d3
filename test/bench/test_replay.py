"""Replayed drafts: the recorded table proposes exactly the real draft's greedy blocks (misses filled from the
draft and counted), and a replaying robot gets the target's output from a real verifier over real sockets."""

from __future__ import annotations

import pytest
from bridge.tiny_pair import PROMPTS
from fleet.conftest import MAX_NEW, ThreadServer

from spec_decode_ros.bench.replay import DraftTable, ReplayDraftSession, ReplayEdgeSession
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.types import Prompt, SamplingConfig


@pytest.fixture(scope="module")
def table(draft, references):
    prompts = [Prompt(t) for t in PROMPTS]
    return DraftTable(draft, prompts).record([references[t] for t in PROMPTS], length=5)


def test_replayed_blocks_are_the_real_drafts(table, draft, references):
    for i, text in enumerate(PROMPTS):
        real = DraftSession(draft, Prompt(text))
        replay = ReplayDraftSession(table, i)
        ref = references[text]
        for k in range(0, len(ref), 3):
            real.commit(ref[len(real.generated):k])
            replay.commit(ref[len(replay.generated):k])
            for after in ((), (ref[k],) if k < len(ref) else ()):
                assert replay.draft(4, after=after).tokens == real.draft(4, after=after).tokens
    assert table.misses == 0


def test_an_unrecorded_prefix_is_filled_from_the_draft_and_counted(table, draft):
    odd = (7, 7, 7)
    assert odd not in table.next[0]
    before = table.misses
    replay = ReplayDraftSession(table, 0)
    assert replay.draft(3, after=odd).tokens == DraftSession(draft, Prompt(PROMPTS[0])).draft(3, after=odd).tokens
    assert table.misses == before + 3


def test_replaying_robot_gets_the_targets_output_over_real_sockets(table, target_dir, references):
    server = ThreadServer(target_dir)
    try:
        client = CloudClient(server.server.endpoint)
        for i, text in enumerate(PROMPTS):
            session = ReplayEdgeSession(client, table, i, EdgeConfig(max_new_tokens=MAX_NEW))
            result = session.run()
            assert result.tokens == references[text]
            assert result.metrics.num_draft_tokens > 0
        client.close()
    finally:
        server.kill()


def test_replay_refuses_sampling(table):
    with pytest.raises(ValueError, match="greedy"):
        ReplayEdgeSession(CloudClient("tcp://127.0.0.1:1"), table, 0,
                          EdgeConfig(sampling=SamplingConfig(do_sample=True)))

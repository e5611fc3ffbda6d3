"""Emulated slower hardware as wrappers: a paced draft session (``bench/emulation.py``) and a target whose every
forward has a floor (``ForwardCost.floor``, what ``spec-decode cloud --emulate-forward-ms`` puts in place): the
floors hold, the tokens do not change."""

from __future__ import annotations

import time

import pytest
from bridge.conftest import serving
from bridge.tiny_pair import PROMPTS

from spec_decode_ros.bench.cost import ForwardCost
from spec_decode_ros.bench.emulation import PacedDraftSession, paced_drafts
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.types import Prompt

FLOOR = 0.05


def test_paced_draft_floors_prefill_and_each_forward_and_keeps_the_tokens(draft):
    prompt = Prompt(PROMPTS[0])
    plain = DraftSession(draft, prompt)
    t0 = time.perf_counter()
    paced = PacedDraftSession(draft, prompt, forward_s=FLOOR)
    assert time.perf_counter() - t0 >= FLOOR  # the prompt prefill
    block = paced.draft(4)
    assert block.tokens == plain.draft(4).tokens
    assert block.seconds >= 3 * FLOOR  # the first token comes from the prefill's logits, then one forward each
    paced.commit(block.tokens[:2])
    plain.commit(block.tokens[:2])
    t0 = time.perf_counter()
    assert paced.next_token() == plain.next_token()  # a rollback and a catch-up: one forward
    assert time.perf_counter() - t0 >= FLOOR
    with pytest.raises(ValueError, match="forward_s"):
        PacedDraftSession(draft, prompt, forward_s=-1.0)
    with pytest.raises(ValueError, match="emulated draft"):
        paced_drafts(-0.001)
    assert paced_drafts(0.0) is DraftSession  # no emulation: the plain session, nothing in between


def test_edge_session_with_a_paced_draft_gives_the_same_answer(draft):
    config = EdgeConfig(mode="edge_only", max_new_tokens=6)
    plain = EdgeSession(None, draft, Prompt(PROMPTS[1]), config).run()
    paced = EdgeSession(None, draft, Prompt(PROMPTS[1]), config, new_draft=paced_drafts(FLOOR)).run()
    assert paced.tokens == plain.tokens
    assert paced.latency_s >= len(paced.tokens) * FLOOR  # prefill + one forward per token after the first


@pytest.mark.parametrize("fuse", [False, True])
def test_forward_floor_pads_prefill_and_verdicts_and_keeps_them_exact(target_dir, references, fuse):
    """The cloud with a forward floor: OPENED after at least one floor (the prefill), or at once when the prefill is
    deferred into the first verification (fused); the early verdict no sooner than the exit layer's share of a
    floor, the final one no sooner than the floor, as busy time, and the fused one padded once (one forward), not
    twice; the tokens unchanged."""
    ref = references[PROMPTS[0]]
    floor = 0.3
    target = ForwardCost.floor(floor)(EarlyExitTarget.from_pretrained(target_dir))
    share = target.exit_layers[0] / target.model.num_layers
    with serving(target, fuse_first_round=fuse) as server:
        client = CloudClient(server.endpoint)
        client.send(p.Open(session="s1", text=PROMPTS[0], max_new_tokens=len(ref)))
        opened = client.recv(30)
        assert isinstance(opened, p.Opened) and (opened.prefill_s < floor if fuse else opened.prefill_s >= floor)
        sent = time.monotonic()
        client.send(p.Draft(session="s1", round=0, committed=0, tokens=(ref[0], ref[1])))
        early = client.recv(30)
        early_at = time.monotonic() - sent
        final = client.recv(30)
        final_at = time.monotonic() - sent
        assert isinstance(early, p.Early) and isinstance(final, p.Final)
        assert early_at >= floor * share and final_at >= floor and final.busy_s >= floor
        assert final.busy_s < 2 * floor  # one padded forward
        assert (final.n, final.y) == (2, ref[2])
        client.close()
    assert target.counters()["prefill_forwards"] == (0 if fuse else 1) and target.forwards == 1
    assert ForwardCost.floor(floor) == ForwardCost(a_s=floor, b_s=0.0, prefill="floor")


def test_spec_decode_cloud_with_an_emulated_forward_runs_from_bench_and_the_cloud_keeps_its_options(capsys):
    """Runtime modules never import bench/: ``spec-decode cloud --emulate-forward-ms`` is run by
    ``bench/emulated_cloud.py``, which puts the floor around the target (of this verifier or of every replica) and
    hands every option to the cloud command; the cloud command alone cannot emulate, and says so."""
    from spec_decode_ros import cli
    from spec_decode_ros.bench import emulated_cloud
    from spec_decode_ros.cloud import command
    from spec_decode_ros.cloud.config import parse

    assert cli.module_of("cloud", ["--model", "m"]) == "spec_decode_ros.cloud.command"
    for option in (["--emulate-forward-ms", "30"], ["--emulate-forward-ms=30"]):
        argv = ["--model", "m", "--bind", "tcp://127.0.0.1:5555", *option, "--max-batch", "2"]
        assert cli.module_of("cloud", argv) == "spec_decode_ros.bench.emulated_cloud"
        assert emulated_cloud.emulated_forward(argv) == ForwardCost.floor(0.030)
        assert parse(argv).max_batch == 2 and parse(argv).emulate_forward_ms == 30.0
    assert emulated_cloud.emulated_forward(["--model", "m", "--emulate-forward-ms", "0"]) is None
    assert command.main(["--model", "m", "--bind", "tcp://127.0.0.1:5555", "--emulate-forward-ms", "30"]) == 2
    assert "emulated_cloud.py" in capsys.readouterr().err


def test_the_emulated_draft_node_takes_its_pace_and_hands_the_ros_arguments_on():
    from spec_decode_ros.bench.emulated_draft_node import split_arguments

    ros = ["--ros-args", "-r", "__node:=draft", "-p", "mode:=sd"]
    assert split_arguments(["--emulate-draft-ms", "20", *ros]) == (0.020, ros)
    with pytest.raises(SystemExit):
        split_arguments(ros)  # the pace is what this entry point is for


@pytest.mark.slow  # starts a cloud process
@pytest.mark.timeout(120)
def test_the_cloud_command_with_an_emulated_forward_pads_each_verification(target_dir):
    from spec_decode_ros.bench.cloud_process import CloudProcess, free_endpoint

    with CloudProcess(target_dir, free_endpoint(), "--emulate-forward-ms", "300") as cloud:
        client = CloudClient(cloud.endpoint)
        client.request(p.Open(session="e", text=PROMPTS[0], max_new_tokens=4), p.Opened, 30)
        client.send(p.Draft(session="e", round=0, committed=0, tokens=(5, 6)))
        while not isinstance(client.recv(30), p.Final):
            pass
        stats = client.request(p.StatsRequest(), p.Stats, 10)
        assert isinstance(stats, p.Stats) and stats.forwards == 1 and stats.busy_s >= 0.3, stats
        client.close()

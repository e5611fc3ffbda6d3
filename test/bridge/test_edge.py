"""The robot session over real sockets: every mode's output, streaming with timings, sampling over the wire,
unreachable cloud (clear error, status report) and reconnection without a restart."""

from __future__ import annotations

import threading
import time

import pytest
import torch
import zmq

from bridge.conftest import MAX_NEW, serving
from bridge.tiny_pair import PROMPTS, load_draft
from spec_decode_ros.bridge.client import CloudClient, CloudUnreachableError
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession, RoundEvent, TokenEvent
from spec_decode_ros.decoding.draft import DraftSession
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.local import target_generate
from spec_decode_ros.decoding.mode import MODES, Mode
from spec_decode_ros.decoding.predraft import PredraftPolicy
from spec_decode_ros.decoding.types import Prompt, SamplingConfig
from spec_decode_ros.process_group import free_endpoint


def _edge_only_reference(draft, text: str) -> list[int]:
    ds = DraftSession(draft, Prompt(text))
    out: list[int] = []
    while len(out) < MAX_NEW:
        out.append(ds.next_token())
        if out[-1] in draft.eos_token_ids:
            break
    return out


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gives_the_target_output_and_streams_each_token_once(target, draft, references, mode):
    with serving(target) as server:
        for text in PROMPTS:
            client = CloudClient(server.endpoint)
            events: list[TokenEvent] = []
            result = EdgeSession(client, draft, Prompt(text), EdgeConfig(mode=mode, max_new_tokens=MAX_NEW),
                                 on_token=events.append).run()
            client.close()
            expected = _edge_only_reference(draft, text) if mode == "edge_only" else references[text]
            assert result.tokens == expected
            assert [e.token for e in events] == result.tokens and [e.index for e in events] == list(range(len(events)))
            assert all(a.t_s <= b.t_s for a, b in zip(events, events[1:], strict=False))
            assert result.latency_s >= events[-1].t_s
            m = result.metrics
            if mode in ("sd", "sd_ee", "sd_ee_predraft"):
                assert m.num_drafts > 0 and 0 < m.mean_acceptance_length
            if mode == "sd":
                assert m.early_exit_hits + m.early_exit_misses == 0
            if mode in ("sd_ee", "sd_ee_predraft"):
                assert m.early_exit_hits + m.early_exit_misses > 0
            if mode != "edge_only":
                assert m.target_busy_s > 0


def test_bfloat16_pair_over_zeromq_gives_the_bfloat16_targets_output(target_dir):
    """Half precision over real sockets: a bfloat16 cloud target (exit adapter included) and a bfloat16 draft give
    the bfloat16 target's own greedy output, token for token, in every cloud mode."""
    target = EarlyExitTarget.from_pretrained(target_dir, dtype="bfloat16")
    draft = load_draft(target_dir, dtype="bfloat16")
    assert target.model.model.dtype == torch.bfloat16 and draft.model.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for p in target.adapters.parameters())
    references = {text: target_generate(target, Prompt(text), MAX_NEW) for text in PROMPTS}
    accepted = hits = 0
    with serving(target) as server:
        for mode in ("cloud_ar", "sd", "sd_ee_predraft"):
            for text in PROMPTS:
                client = CloudClient(server.endpoint)
                result = EdgeSession(client, draft, Prompt(text), EdgeConfig(mode=mode, max_new_tokens=MAX_NEW)).run()
                client.close()
                assert result.tokens == references[text], (mode, text)
                accepted += result.metrics.num_accepted_tokens
                hits += result.metrics.early_exit_hits
    assert accepted > 0 and hits > 0


@pytest.mark.parametrize("mode", ["cloud_ar", "sd", "sd_ee_predraft"])
def test_each_round_is_reported_with_what_it_committed_and_its_timings(target, draft, mode):
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        rounds: list[RoundEvent] = []
        result = EdgeSession(client, draft, Prompt(PROMPTS[0]), EdgeConfig(mode=mode, max_new_tokens=MAX_NEW),
                             on_round=rounds.append).run()
        client.close()
    m = result.metrics
    assert rounds and rounds[-1].committed == len(result.tokens)
    assert [r.committed for r in rounds] == sorted({r.committed for r in rounds})  # strictly growing
    assert sum(r.gamma for r in rounds) == m.num_draft_tokens
    assert sum(r.n_accepted for r in rounds) == m.num_accepted_tokens
    assert sum(r.early_hit for r in rounds) == m.early_exit_hits
    assert sum(r.early_sent and not r.early_hit for r in rounds) == m.early_exit_misses
    for r in rounds:
        assert 0 < r.final_s <= r.round_s and r.server_s > 0
        assert (r.early_s > 0) == r.early_sent and r.early_s <= r.final_s
        assert (r.gamma == 0) == (mode == "cloud_ar")
        assert r.queued_s >= 0
    # the first command's timeline: the prefills on the first round only, each round sent after the last FINAL
    first, rest = rounds[0], rounds[1:]
    assert first.prefill_s > 0 and all(r.prefill_s == 0 for r in rest)
    assert (first.draft_prefill_s > 0) == (mode != "cloud_ar") and all(r.draft_prefill_s == 0 for r in rest)
    assert all(a.sent_at + a.final_s <= b.sent_at + 1e-9 for a, b in zip(rounds[:-1], rest, strict=True))
    if mode == "cloud_ar":  # the first token counts from the OPEN: the cloud's prefill and forward are inside it
        assert first.final_s >= first.prefill_s + first.server_s


def test_a_predraft_policy_learns_across_answers_and_rare_hits_stop_the_predrafts(target, draft, references):
    """The robot's policy is carried from answer to answer; once it has measured the window and seen hits fail,
    it pre-drafts only what fits (nothing, with a window shorter than a token), and the output is unchanged."""
    policy = PredraftPolicy()
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        first = EdgeSession(client, draft, Prompt(PROMPTS[0]), EdgeConfig(mode="sd_ee_predraft", max_new_tokens=MAX_NEW),
                            predraft_policy=policy).run()
        assert first.tokens == references[PROMPTS[0]]
        assert policy.token_s is not None and policy.token_s > 0  # it measured the draft
        policy.hit_rate, policy.window_s = 0.0, policy.token_s / 2  # as after many misses with a short window
        asks: list = []
        second = EdgeSession(client, draft, Prompt(PROMPTS[1]), EdgeConfig(mode="sd_ee_predraft", max_new_tokens=MAX_NEW),
                             predraft_policy=policy)
        assert second.machine.policy is policy
        early = second.machine.early

        def record(verdict):  # what each EARLY led to
            asks.append(early(verdict))
            return asks[-1]

        second.machine.early = record
        result = second.run()
        client.close()
    assert result.tokens == references[PROMPTS[1]]
    assert asks and asks[0] is None  # the first EARLY: no pre-draft (later hits may revive it)


def test_predraft_hits_are_used_and_the_output_stays_the_targets(target, draft, references):
    with serving(target) as server:
        hits = 0
        for text in PROMPTS:
            client = CloudClient(server.endpoint)
            result = EdgeSession(client, draft, Prompt(text), EdgeConfig(mode="sd_ee_predraft",
                                                                       max_new_tokens=MAX_NEW)).run()
            client.close()
            assert result.tokens == references[text]
            hits += result.metrics.early_exit_hits
        assert hits > 0


def test_sampling_sends_sparse_draft_probabilities_and_the_cloud_accepts_them(target, draft):
    sampling = SamplingConfig(do_sample=True, temperature=0.8, top_k=8, seed=5)
    with serving(target) as server:
        client = CloudClient(server.endpoint)
        result = EdgeSession(client, draft, Prompt(PROMPTS[0]),
                             EdgeConfig(mode="sd_ee_predraft", max_new_tokens=MAX_NEW, sampling=sampling)).run()
        client.close()
    assert 1 <= len(result.tokens) <= MAX_NEW and result.metrics.num_drafts > 0
    assert all(0 <= t < target.model.vocab_size for t in result.tokens)


def test_unreachable_cloud_is_reported_and_raises_a_clear_error(draft):
    statuses: list[str] = []
    client = CloudClient(free_endpoint())  # nobody listens there
    session = EdgeSession(client, draft, Prompt(PROMPTS[0]),
                          EdgeConfig(mode="sd", reply_timeout_s=0.3, reconnect_timeout_s=0.8, ping_interval_s=0.2),
                          on_status=statuses.append)
    with pytest.raises(CloudUnreachableError, match="unreachable"):
        session.run()
    assert statuses and statuses[0] == "unreachable"
    client.close()


def test_reconnects_when_the_cloud_comes_back_and_loses_nothing(target, draft, references):
    """Mid-generation the cloud swallows a DRAFT and dies (every session lost); 1.5 s later a fresh server
    comes back on the same port. The robot reports unreachable, reconnects, resumes, and the output is whole."""
    text = PROMPTS[0]
    endpoint = free_endpoint()
    statuses: list[str] = []
    servers = [_ServerThread(target, endpoint)]

    def comeback(hole: zmq.Socket) -> None:
        assert hole.poll(10_000), "the robot's DRAFT never reached the dead server"
        hole.recv_multipart()  # received, never answered
        time.sleep(1.5)
        hole.close(0)
        servers.append(_ServerThread(target, endpoint))

    def on_token(event: TokenEvent) -> None:
        if event.index == 3 and len(servers) == 1:
            servers[0].stop()
            hole = zmq.Context.instance().socket(zmq.ROUTER)
            hole.linger = 0
            hole.bind(endpoint)
            threading.Thread(target=comeback, args=(hole,), daemon=True).start()

    client = CloudClient(endpoint)
    result = EdgeSession(client, draft, Prompt(text),
                         EdgeConfig(mode="sd_ee_predraft", max_new_tokens=MAX_NEW, reply_timeout_s=0.5,
                                    reconnect_timeout_s=20, ping_interval_s=0.2),
                         on_token=on_token, on_status=statuses.append).run()
    client.close()
    servers[-1].stop()
    assert len(servers) == 2
    assert result.tokens == references[text]
    assert statuses == ["unreachable", "connected"] and result.reconnects == 1


class _ServerThread:
    """A VerifierServer bound to a fixed endpoint, in a thread (a restarted server comes back where it was)."""

    def __init__(self, target, endpoint: str) -> None:
        from spec_decode_ros.bridge.server import ServerConfig, VerifierServer

        self.server = VerifierServer(target, ServerConfig(bind=endpoint))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)
        self.server.close()


@pytest.mark.parametrize("mode", ["sd", "sd_ee", "sd_ee_predraft"])
@pytest.mark.slow  # seconds of sampling statistics, handshakes or waits: out of the one-minute loop
def test_the_first_draft_follows_the_open_without_waiting_for_the_reply(draft, mode):
    """Pipelined start: one round trip for the first round. A bare ROUTER that answers nothing still receives
    OPEN and then DRAFT round 0 (committed 0) of the same session; the robot then times out cleanly."""
    from spec_decode_ros.bridge import protocol as p

    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    client = CloudClient(f"tcp://127.0.0.1:{port}")
    config = EdgeConfig(mode=mode, max_new_tokens=MAX_NEW, reply_timeout_s=1.0, reconnect_timeout_s=1.0)
    session = EdgeSession(client, draft, Prompt(PROMPTS[0]), config)
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _run_catching(session, errors), daemon=True)
    thread.start()
    try:
        received = []
        for _ in range(2):
            assert router.poll(10_000), f"got only {received}"
            received.append(p.decode(router.recv_multipart()[-1]))
        opened, first = received
        assert isinstance(opened, p.Open) and isinstance(first, p.Draft)
        assert (first.session, first.round, first.committed) == (opened.session, 0, 0) and first.tokens
    finally:
        thread.join(30)
        client.close()
        router.close()
    assert errors and isinstance(errors[0], CloudUnreachableError)


def _run_catching(session: EdgeSession, errors: list[BaseException]) -> None:
    try:
        session.run()
    except BaseException as exc:  # handed to the test thread
        errors.append(exc)


def test_config_mode_is_parsed_from_its_name():
    assert EdgeConfig(mode="sd").mode is Mode.SD and EdgeConfig().mode is Mode.SD_EE_PREDRAFT
    with pytest.raises(ValueError, match="mode must be one of"):
        EdgeConfig(mode="fast")

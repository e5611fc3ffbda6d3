"""The grammar over ZeroMQ: robot and cloud agree on it at OPEN, the output is the constrained target's in every
mode, a grammar the cloud does not serve is refused, and a resumed session (re-OPEN with the committed tokens)
continues under the grammar where the lost one was."""

from __future__ import annotations

import threading
from pathlib import Path

import decoding.tiny_models as tiny
import pytest
import zmq
from decoding.test_constrained import COMMAND_WORDS
from support.threads import in_thread

from bridge.conftest import serving
from bridge.tiny_pair import PROMPTS, build_target, load_draft
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession, TokenEvent
from spec_decode_ros.bridge.server import ServerConfig, VerifierServer
from spec_decode_ros.control.grammar import parse_answer
from spec_decode_ros.decoding.constraint import GRAMMAR_NAME, grammar_hash
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.local import target_generate
from spec_decode_ros.decoding.models import LoadedModel
from spec_decode_ros.decoding.types import Prompt

NEW = 24


@pytest.fixture(scope="module")
def cmd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tiny, "WORDS", tiny.WORDS + COMMAND_WORDS)
        return build_target(tmp_path_factory.mktemp("tiny_cmd_pair") / "target")


@pytest.fixture(scope="module")
def cmd_target(cmd_dir: Path) -> EarlyExitTarget:
    return EarlyExitTarget.from_pretrained(cmd_dir)


@pytest.fixture(scope="module")
def cmd_draft(cmd_dir: Path) -> LoadedModel:
    return load_draft(cmd_dir)


@pytest.fixture(scope="module")
def cmd_refs(cmd_target: EarlyExitTarget) -> dict[str, list[int]]:
    return {text: target_generate(cmd_target, Prompt(text), NEW, constrain="grammar") for text in PROMPTS[:2]}


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["sd_ee_predraft", "sd_ee", "sd", "cloud_ar"])
def test_every_mode_gives_the_constrained_targets_output(cmd_target, cmd_draft, cmd_refs, mode):
    with serving(cmd_target) as server:
        client = CloudClient(server.endpoint)
        try:
            for text, ref in cmd_refs.items():
                result = EdgeSession(client, cmd_draft, Prompt(text),
                                     EdgeConfig(mode=mode, max_new_tokens=NEW, constrain="grammar")).run()
                assert result.tokens == ref
                assert parse_answer(result.text)
        finally:
            client.close()


def _open_reply(endpoint: str, msg: p.Open) -> p.Message:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    try:
        sock.send(p.encode(msg))
        assert sock.poll(10_000), "no reply"
        return p.decode(sock.recv())
    finally:
        sock.close()


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_grammar_the_cloud_does_not_serve_is_refused_and_committed_tokens_must_be_inside_it(cmd_target):
    tokenizer = cmd_target.model.tokenizer
    with serving(cmd_target) as server:
        wrong = _open_reply(server.endpoint, p.Open(session="g1", text=PROMPTS[0], grammar=GRAMMAR_NAME,
                                                    grammar_hash="0" * 16))
        assert isinstance(wrong, p.Error) and wrong.code == p.ErrorCode.GRAMMAR_MISMATCH.value
        assert GRAMMAR_NAME in wrong.reason
        outside = _open_reply(server.endpoint, p.Open(session="g2", text=PROMPTS[0], grammar=GRAMMAR_NAME,
                                                      grammar_hash=grammar_hash(),
                                                      committed=(tokenizer.convert_tokens_to_ids("door"),)))
        assert isinstance(outside, p.Error) and outside.code == p.ErrorCode.BAD_TOKEN.value
        inside = _open_reply(server.endpoint, p.Open(session="g3", text=PROMPTS[0], grammar=GRAMMAR_NAME,
                                                     grammar_hash=grammar_hash(),
                                                     committed=tuple(tokenizer.convert_tokens_to_ids(["stop", ","]))))
        assert isinstance(inside, p.Opened) and inside.resumed == 2


def test_open_bounds_the_grammar_fields():
    frame = p.encode(p.Open(session="s", text="x", grammar="g" * (p.MAX_GRAMMAR_CHARS + 1)))
    with pytest.raises(p.ProtocolError, match="grammar"):
        p.decode(frame)
    assert p.decode(p.encode(p.Open(session="s", text="x", grammar=GRAMMAR_NAME, grammar_hash=grammar_hash(),
                                    system="you drive a Go2"))).grammar == GRAMMAR_NAME


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_restarted_cloud_resumes_under_the_grammar(cmd_target, cmd_draft, cmd_refs):
    """The cloud goes away after the first committed token (γ=1: more rounds follow); a new one on the same endpoint gets the re-OPEN with
    the committed tokens and builds its matcher over them: the answer is still the constrained target's."""
    first = VerifierServer(cmd_target, ServerConfig(bind="tcp://127.0.0.1:0"))
    endpoint = first.endpoint
    stopped = threading.Event()
    thread = threading.Thread(target=first.serve_forever, daemon=True)
    thread.start()

    def on_token(event: TokenEvent) -> None:
        if event.index == 0 and not stopped.is_set():
            stopped.set()
            first.stop()
            thread.join(10)
            first.close()

    text = PROMPTS[0]
    client = CloudClient(endpoint)
    try:
        second = None
        session = EdgeSession(client, cmd_draft, Prompt(text),
                              EdgeConfig(mode="sd_ee_predraft", gamma=1, max_new_tokens=NEW, constrain="grammar",
                                         reply_timeout_s=1.0, reconnect_timeout_s=30, ping_interval_s=0.2),
                              on_token=on_token)
        runner = threading.Thread(target=lambda: setattr(session, "result", session.run()), daemon=True)
        runner.start()
        assert stopped.wait(60)
        second = VerifierServer(cmd_target, ServerConfig(bind=endpoint))
        with in_thread(second.serve_forever, second.stop):
            runner.join(60)
        assert session.result.tokens == cmd_refs[text]
        assert first.stats.tokens >= 1 and 0 < second.stats.tokens < len(cmd_refs[text])  # the second one resumed
    finally:
        client.close()
        if second is not None:
            second.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_system_prompt_travels_in_open_and_both_sides_apply_it_through_their_chat_templates(cmd_target, cmd_draft):
    """The robot's OPEN carries the system prompt; the cloud's answer is the target's own for prompt + system
    (its chat template's system turn), which differs from the answer without it; the draft encodes it too."""
    text, system = PROMPTS[1], "you are a robot"
    with_system = Prompt(text, system=system)
    ref = target_generate(cmd_target, with_system, NEW, constrain="grammar")
    assert ref != target_generate(cmd_target, Prompt(text), NEW, constrain="grammar")
    assert cmd_draft.encode(with_system).length > cmd_draft.encode(Prompt(text)).length
    sent: list[p.Message] = []

    class Recording(CloudClient):
        def send(self, msg: p.Message) -> None:
            sent.append(msg)
            super().send(msg)

    with serving(cmd_target) as server:
        client = Recording(server.endpoint)
        try:
            result = EdgeSession(client, cmd_draft, with_system,
                                 EdgeConfig(mode="sd", max_new_tokens=NEW, constrain="grammar")).run()
        finally:
            client.close()
    assert result.tokens == ref
    opens = [m for m in sent if isinstance(m, p.Open)]
    assert opens and all(m.system == system and m.grammar == GRAMMAR_NAME for m in opens)

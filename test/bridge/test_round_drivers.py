"""The two loops drive one round machine: one scripted sequence of verdicts through the in-process loop
(``local.speculative_generate``) and through the robot's session over real ZeroMQ sockets (``EdgeSession``) gives
the same actions, call for call: what is drafted after what, what is pre-drafted on each EARLY, which block is
verified, what each FINAL commits, and when the answer stops.

The script (a scripted target stand-in here and a scripted verifier on a loopback ROUTER socket there, both
answering from one ``Script``): the target's answer is ``answer``; a verdict accepts the block's longest prefix that
follows it; the early verdict of round k is a hit, a miss (another token, or fewer drafts) or absent, as ``early``
says. The draft follows the answer except at ``wrong`` positions, so blocks are cut, pre-drafts go astray and the
adaptive γ grows and shrinks. Drafting a token "costs" 1000 s (``DraftBlock.seconds``, a number the policy reads),
so once misses push the hit rate under 1/2 the pre-draft policy stops pre-drafting in both loops, whatever the
measured window, and hits revive it. The lossless tests keep using real models; this one compares the drivers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import zmq

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.decoding.gamma import GammaSchedule
from spec_decode_ros.decoding.local import speculative_generate
from spec_decode_ros.decoding.round import committed
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig, SpecMetrics, Verdict

EOS = 2
TOKEN_S = 1000.0  # what one drafted token "costs": longer than any window, so the policy's budget is γ or 0
EARLY = ["hit", "hit", "miss", "fewer", "hit", "none", "miss", "miss", "miss", "hit", "miss", "hit", "hit", "fewer"]


@dataclass
class Script:
    """The target's answer and each round's early-exit behaviour; ``log`` gets every action of a run."""

    answer: tuple[int, ...]
    wrong: frozenset[int]  # positions where the draft does not propose the answer's token
    early: Sequence[str] = tuple(EARLY)
    log: list[tuple] = field(default_factory=list)
    rounds: int = 0

    def draft_token(self, seq: tuple[int, ...]) -> int:
        i = len(seq)
        if seq == self.answer[:i] and i < len(self.answer):
            return 50 + i if i in self.wrong else self.answer[i]
        return 90 + i % 5  # off the answer: after a wrong early verdict

    def verdicts(self, done: Sequence[int], block: tuple[int, ...]) -> tuple[Verdict | None, Verdict]:
        """Round k's (early, final) for ``block`` after the committed ``done``."""
        self.log.append(("verify", tuple(done), block))
        base = len(done)
        n = 0
        while n < len(block) and base + n < len(self.answer) - 1 and block[n] == self.answer[base + n]:
            n += 1
        final = Verdict(n, self.answer[base + n])
        kind = self.early[self.rounds] if self.rounds < len(self.early) else "hit"
        self.rounds += 1
        if kind == "none":
            return None, final
        if kind == "miss":
            return Verdict(n, 77, 0.5, 1), final
        if kind == "fewer" and n > 0:
            return Verdict(n - 1, block[n - 1], 0.5, 1), final
        return Verdict(n, final.next_token, 0.9, 1), final


class ScriptedDraft:
    """``DraftSession``'s interface over the script (ignores ``should_stop``: the actions do not depend on timing)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.generated: list[int] = []
        self.busy_s = self.prefill_s = 0.0

    def commit(self, tokens: Sequence[int]) -> None:
        self.script.log.append(("commit", tuple(tokens)))
        self.generated.extend(tokens)

    def draft(self, gamma: int, *, after: Sequence[int] = (), should_stop: object = None) -> DraftBlock:
        self.script.log.append(("draft", gamma, tuple(self.generated), tuple(after)))
        seq = (*self.generated, *after)
        tokens: list[int] = []
        while len(tokens) < gamma and (not tokens or tokens[-1] != EOS):
            tokens.append(self.script.draft_token((*seq, *tokens)))
        return DraftBlock(tuple(tokens), tuple(after), seconds=TOKEN_S * len(tokens))


@dataclass(frozen=True)
class DraftModel:
    """What both drivers read of a draft model besides drafting."""

    tokenizer: object = None
    eos_token_ids: frozenset[int] = frozenset({EOS})


class _TargetSession:
    def __init__(self) -> None:
        self.generated: list[int] = []
        self.finished = False
        self.metrics = SpecMetrics()


class ScriptedTarget:
    """``EarlyExitTarget``'s interface for the in-process loop, answering from the script."""

    exit_layers = (1,)

    def __init__(self, script: Script) -> None:
        self.script = script
        self.model = self  # its model: the EOS ids and decode

    eos_token_ids = frozenset({EOS})

    def decode(self, tokens: Sequence[int]) -> str:
        return " ".join(map(str, tokens))

    def open(self, prompt: Prompt, sampling: SamplingConfig, *, defer: bool = False) -> _TargetSession:
        return _TargetSession()

    def close(self, session: _TargetSession) -> None:
        session.finished = True

    def verify(self, sessions, blocks, *, on_early=None, early_exit=False) -> list[Verdict]:
        session, block = sessions[0], blocks[0]
        early, final = self.script.verdicts(session.generated, block.tokens)
        if early is not None and on_early is not None:
            on_early([early])
        session.generated += committed(block.tokens, final.n_accepted, final.next_token)
        session.finished = final.next_token == EOS
        return [final]


class ScriptedVerifier:
    """A loopback ROUTER that answers OPEN and each DRAFT from the script, EARLY before FINAL, as the cloud does.
    ``eos``: the target's end-of-sequence id it names in OPENED; ``says_finished``: whether FINAL says when the
    answer ended (off: the robot must stop by its own rule)."""

    def __init__(self, script: Script, max_new_tokens: int, eos: int = EOS, says_finished: bool = True) -> None:
        self.script = script
        self.max_new_tokens = max_new_tokens
        self.eos = eos
        self.says_finished = says_finished
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.linger = 0
        self.endpoint = f"tcp://127.0.0.1:{self.sock.bind_to_random_port('tcp://127.0.0.1')}"
        self.done: list[int] = []
        self.early_exit = False
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            if not self.sock.poll(50):
                continue
            route, frame = self.sock.recv_multipart()
            msg = p.decode(frame)
            if isinstance(msg, p.Open):
                self.early_exit = msg.early_exit
                self._send(route, p.Opened(session=msg.session, eos_token_ids=(self.eos,)))
            elif isinstance(msg, p.Draft):
                assert msg.committed == len(self.done)
                early, final = self.script.verdicts(self.done, msg.tokens)
                if early is not None and self.early_exit:
                    self._send(route, p.Early(session=msg.session, round=msg.round, **p.verdict_fields(early),
                                              confidence=early.confidence, exit_layer=early.exit_layer))
                self.done += committed(msg.tokens, final.n_accepted, final.next_token)
                ended = final.next_token == self.eos or len(self.done) >= self.max_new_tokens
                finished = ended and self.says_finished
                self._send(route, p.Final(session=msg.session, round=msg.round, **p.verdict_fields(final),
                                          finished=finished))

    def _send(self, route: bytes, msg: p.Message) -> None:
        self.sock.send_multipart([route, p.encode(msg)])

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        self.sock.close(0)


SCENARIOS = {  # name: (the target's answer, wrong draft positions, max_new_tokens)
    "ends_at_eos": ((*range(5, 40), EOS), frozenset({3, 9, 14, 17, 22, 26, 30}), 48),
    "reaches_max_new_tokens": (tuple(range(5, 80)), frozenset({4, 11, 12, 20, 27, 33, 38}), 44),
}


def _local(scenario: str, mode: str) -> tuple[list[int], SpecMetrics, list[tuple]]:
    answer, wrong, max_new = SCENARIOS[scenario]
    script = Script(answer, wrong)
    out = speculative_generate(DraftModel(), ScriptedTarget(script), Prompt("go"),  # type: ignore[arg-type]
                               gamma=GammaSchedule(2, adaptive=True, max_gamma=16), max_new_tokens=max_new,
                               mode=mode, new_draft=lambda *_: ScriptedDraft(script))  # type: ignore[arg-type,return-value]
    return out.tokens, out.metrics, script.log


def _edge(scenario: str, mode: str) -> tuple[list[int], SpecMetrics, list[tuple]]:
    answer, wrong, max_new = SCENARIOS[scenario]
    script = Script(answer, wrong)
    verifier = ScriptedVerifier(script, max_new)
    client = CloudClient(verifier.endpoint)
    try:
        config = EdgeConfig(mode=mode, gamma=2, adaptive_gamma=True, max_new_tokens=max_new, reply_timeout_s=10)
        result = EdgeSession(client, DraftModel(), Prompt("go"), config,  # type: ignore[arg-type]
                             new_draft=lambda *_: ScriptedDraft(script)).run()  # type: ignore[arg-type,return-value]
    finally:
        client.close()
        verifier.close()
    return result.tokens, result.metrics, script.log


FIELDS = ("num_drafts", "num_draft_tokens", "num_accepted_tokens", "accepted_per_position", "num_generated_tokens",
          "early_exit_hits", "early_exit_misses")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("mode", ["sd", "sd_ee", "sd_ee_predraft"])
def test_both_drivers_take_the_same_actions_on_one_scripted_sequence(scenario, mode):
    answer, _, max_new = SCENARIOS[scenario]
    local_tokens, local_metrics, local_log = _local(scenario, mode)
    edge_tokens, edge_metrics, edge_log = _edge(scenario, mode)
    assert edge_log == local_log  # every draft, pre-draft, verified block and commit, in order
    assert edge_tokens == local_tokens
    assert {f: getattr(edge_metrics, f) for f in FIELDS} == {f: getattr(local_metrics, f) for f in FIELDS}
    # the script covered what it claims: the answer, cut where it must be, nothing past the stop
    expected = list(answer[:max_new]) if EOS not in answer[:max_new] else list(answer[: answer.index(EOS) + 1])
    assert local_tokens == expected
    drafts = [entry for entry in local_log if entry[0] == "draft"]
    gammas = {entry[1] for entry in drafts}
    assert len(gammas) > 2  # the adaptive γ moved (and the cap near max_new_tokens cut it)
    if mode == "sd_ee_predraft":  # a pre-draft is a draft between a block's verification and its commit
        predrafts = sum(a[0] == "verify" and b[0] == "draft" for a, b in zip(local_log, local_log[1:], strict=False))
        rounds_with_early = local_metrics.early_exit_hits + local_metrics.early_exit_misses
        assert local_metrics.early_exit_hits > 0 and local_metrics.early_exit_misses >= 3
        assert 0 < predrafts < rounds_with_early  # the policy skipped some after the run of misses
    else:
        assert not any(entry[3] for entry in drafts)  # no pre-drafts, no kept heads
    if mode == "sd":
        assert local_metrics.early_exit_hits + local_metrics.early_exit_misses == 0


@pytest.mark.timeout(60)
def test_the_robot_stops_on_the_targets_eos_named_in_opened():
    """The target ends with token 9, which the draft's tokenizer does not call EOS; the verifier names it in OPENED
    and never says FINAL(finished): the robot stops right after 9, as the in-process loop does on the target's ids."""
    script = Script(tuple(range(5, 40)), frozenset({6}), early=())
    verifier = ScriptedVerifier(script, 30, eos=9, says_finished=False)
    client = CloudClient(verifier.endpoint)
    try:
        result = EdgeSession(client, DraftModel(), Prompt("go"), EdgeConfig(max_new_tokens=30, reply_timeout_s=10),
                             new_draft=lambda *_: ScriptedDraft(script)).run()  # type: ignore[arg-type,return-value]
    finally:
        client.close()
        verifier.close()
    assert result.tokens == [5, 6, 7, 8, 9]

"""The robot's side of one generation (``EdgeSession``): sockets, deadlines, timing and recovery around the round
machine (``decoding.round.RoundMachine``, which the in-process loop drives too and which decides everything else).

One round (mode ``sd_ee_predraft``)::

    ask = machine.plan(); block = machine.drafted(draft(ask))    # d_1..d_γ after the committed tokens C
    send DRAFT(round, |C|, block)
    on EARLY(n_ee, y_ee):  ask = machine.early(verdict)          # as many as pay (``PredraftPolicy``), or none
                           machine.predrafted(draft(ask, should_stop=frame waiting))
    on FINAL(n, y):        machine.final(verdict, window) -> C += d[:n]+[y] (each token to ``on_token`` at once)
                           hit  (n, y) == (n_ee, y_ee): the next plan keeps pre (extended to γ if cut short)
                           miss: the next plan drafts γ (the draft cache rolls back by longest common prefix)

The other modes share the code: ``sd`` asks for no early exit, ``sd_ee`` gets EARLY but does not pre-draft,
``cloud_ar`` sends the prompt once and receives one FINAL per token, ``edge_only`` runs the draft alone.
Only FINAL commits tokens, so the output is the target's; the answer stops at the target's EOS ids (OPENED
carries them; until then, and from a verifier that does not name them, the draft's, which shares the tokenizer:
the fingerprint check says so). When the cloud stops answering, the session
reports ``unreachable`` through ``on_status``, rebuilds its socket, pings until the cloud is back, re-opens
with the committed tokens (the cloud rebuilds its cache) and carries on; after ``reconnect_timeout_s`` it
raises ``CloudUnreachableError``. With ``constrain="grammar"`` the draft is masked by the command grammar and
OPEN names it (``grammar``/``grammar_hash``), so the cloud masks the target with the same one.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient, CloudError, CloudUnreachableError
from spec_decode_ros.bridge.fingerprint import tokenizer_fingerprint
from spec_decode_ros.bridge.images import encode_jpeg
from spec_decode_ros.decoding.gamma import GammaSchedule
from spec_decode_ros.decoding.mode import MODES, Mode
from spec_decode_ros.decoding.predraft import PredraftPolicy
from spec_decode_ros.decoding.round import Committed, RoundMachine
from spec_decode_ros.decoding.round_event import RoundEvent
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig, SpecMetrics, Verdict, check_constrain

if TYPE_CHECKING:
    from spec_decode_ros.decoding.constraint import GrammarConstraint
    from spec_decode_ros.decoding.draft import DraftSession
    from spec_decode_ros.decoding.models import LoadedModel

RESUMABLE = {p.ErrorCode.UNKNOWN_SESSION.value, p.ErrorCode.EVICTED.value, p.ErrorCode.BAD_ROUND.value,
             p.ErrorCode.BAD_LENGTH.value}


@dataclass(frozen=True)
class EdgeConfig:
    """How the robot decodes. Timeouts: ``reply_timeout_s`` per reply (must exceed the slowest verification),
    ``reconnect_timeout_s`` for the cloud to come back before giving up."""

    mode: Mode = Mode.SD_EE_PREDRAFT  # a mode name (YAML, CLI) is accepted and parsed
    gamma: int = 4
    adaptive_gamma: bool = False
    max_new_tokens: int = 32
    sampling: SamplingConfig = SamplingConfig()
    reply_timeout_s: float = 30.0
    reconnect_timeout_s: float = 60.0
    ping_interval_s: float = 0.5
    jpeg_quality: int = 90
    constrain: str = "none"  # "grammar": draft and target masked by the command grammar (decoding.constraint)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", Mode(self.mode))
        except ValueError:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}") from None
        if not 1 <= self.gamma <= p.MAX_GAMMA or not 1 <= self.max_new_tokens <= p.MAX_NEW_TOKENS:
            raise ValueError(f"gamma must be in [1, {p.MAX_GAMMA}] and max_new_tokens in [1, {p.MAX_NEW_TOKENS}]")
        if self.reply_timeout_s <= 0 or self.reconnect_timeout_s < 0:
            raise ValueError("reply_timeout_s must be > 0 and reconnect_timeout_s >= 0")
        check_constrain(self.constrain)

    def gamma_schedule(self) -> GammaSchedule:
        """A fresh γ schedule for one answer."""
        return GammaSchedule(gamma=self.gamma, adaptive=self.adaptive_gamma, max_gamma=max(self.gamma, 16))


@dataclass(frozen=True)
class TokenEvent:
    """A committed token, as soon as it is final: its index, id, seconds since the start, and round."""

    index: int
    token: int
    t_s: float
    round: int


@dataclass
class EdgeResult:
    tokens: list[int]
    text: str
    latency_s: float
    first_token_s: float
    token_times: list[float]
    metrics: SpecMetrics
    reconnects: int = 0
    statuses: list[tuple[float, str]] = field(default_factory=list)

    @property
    def ms_per_token(self) -> float:
        return 1000.0 * self.latency_s / len(self.tokens) if self.tokens else 0.0


class _Lost(Exception):
    """The current cloud session is gone: ``timeout`` (cloud silent) or a resumable ERROR."""

    def __init__(self, why: str, *, silent: bool) -> None:
        super().__init__(why)
        self.silent = silent


class EdgeSession:
    """One generation for one prompt. ``client`` is None only for ``edge_only``; ``draft`` is None only for
    ``cloud_ar`` (then ``tokenizer`` names the target's tokenizer for the text and the check). ``new_draft`` makes the
    draft session (default ``DraftSession``; benchmarks pass an emulated or replayed one). ``predraft_policy``: what the
    robot learnt about pre-drafting in its earlier answers (default: a fresh one); this session updates it."""

    def __init__(self, client: CloudClient | None, draft: LoadedModel | None, prompt: Prompt, config: EdgeConfig, *,
                 on_token: Callable[[TokenEvent], None] | None = None,
                 on_status: Callable[[str], None] | None = None,
                 on_round: Callable[[RoundEvent], None] | None = None, tokenizer: object | None = None,
                 new_draft: Callable[[LoadedModel, Prompt, SamplingConfig], DraftSession] | None = None,
                 predraft_policy: PredraftPolicy | None = None) -> None:
        if config.mode.needs_cloud and client is None:
            raise ValueError(f"mode {config.mode} needs a CloudClient")
        if config.mode.needs_draft and draft is None:
            raise ValueError(f"mode {config.mode} needs a draft model")
        self.client = client
        self.draft = draft
        self.prompt = prompt
        self.config = config
        self.on_token = on_token
        self.on_status = on_status
        self.on_round = on_round
        self._new_draft = new_draft if new_draft is not None else _plain_draft_session
        self._grammar = ("", "")  # (name, hash) sent in OPEN
        if config.constrain == "grammar":
            from spec_decode_ros.decoding.constraint import GRAMMAR_NAME, GrammarConstraint, grammar_hash

            self._grammar = (GRAMMAR_NAME, grammar_hash())
            if draft is not None:
                self._new_draft = partial(self._new_draft, constraint=GrammarConstraint.for_model(draft))
        self._sent_at = self._final_at = 0.0
        self._early_at: float | None = None  # when this round's EARLY came
        self._prefill_s = self._draft_prefill_s = 0.0  # reported (then zeroed) with the next round
        self.tokenizer = tokenizer if tokenizer is not None else (draft.tokenizer if draft is not None else None)
        self.machine = RoundMachine(_eos_until_opened(draft, self.tokenizer), config.max_new_tokens, config.mode,
                                    config.gamma_schedule(),
                                    predraft_policy if predraft_policy is not None else PredraftPolicy())
        self._fingerprint = tokenizer_fingerprint(self.tokenizer) if self.tokenizer is not None else ""
        self._vocab = len(self.tokenizer) if self.tokenizer is not None else 0
        self._jpeg = encode_jpeg(prompt.image, config.jpeg_quality) if prompt.image is not None else b""
        self._times: list[float] = []
        self._statuses: list[tuple[float, str]] = []
        self._sid = ""
        self._opens = 0
        self._next_round = 0
        self._reconnects = 0
        self._t0 = 0.0
        self._ds: DraftSession | None = None

    # ------------------------------------------------------------------------------------------ public
    @property
    def committed(self) -> list[int]:
        """The answer so far (the machine's C)."""
        return self.machine.committed

    @property
    def metrics(self) -> SpecMetrics:
        return self.machine.metrics

    def run(self) -> EdgeResult:
        self._t0 = time.monotonic()
        mode = self.config.mode
        if mode is Mode.EDGE_ONLY:
            self._run_edge_only()
        elif mode is Mode.CLOUD_AR:
            self._run_cloud_ar()
        else:
            self._run_speculative()
        latency = time.monotonic() - self._t0
        self.metrics.draft_busy_s = self._ds.busy_s if self._ds is not None else 0.0
        text = self.tokenizer.decode(self.committed, skip_special_tokens=True) if self.tokenizer is not None else ""
        return EdgeResult(tokens=list(self.committed), text=text, latency_s=latency,
                          first_token_s=self._times[0] if self._times else latency, token_times=list(self._times),
                          metrics=self.metrics, reconnects=self._reconnects, statuses=list(self._statuses))

    # ------------------------------------------------------------------------------------------ modes
    def _run_edge_only(self) -> None:
        ds = self._draft_session()
        while not self.machine.done:  # the draft's own next token is the final word: a γ = 0 round
            self._stream(self.machine.final(Verdict(0, ds.next_token())), 0)

    def _run_cloud_ar(self) -> None:
        assert self.client is not None
        self._start(autoregressive=True)  # each token's "round" runs from the previous FINAL (or the OPEN)
        while not self.machine.done:
            try:
                final = self._await_final()
            except _Lost as lost:
                self._recover(lost, autoregressive=True)
                continue
            self._account(final)
            outcome = self.machine.final(final.verdict, finished=final.finished)
            self._stream(outcome, final.round)
            self._report_round(final, DraftBlock(()), outcome, self._sent_at)
            self._sent_at = self._final_at
        self._close()

    def _run_speculative(self) -> None:
        early_exit = self.config.mode.early_exit
        # pipelined: the first DRAFT follows the OPEN at once (the cloud handles a connection's frames in order,
        # so it prefills, then verifies), and the answer's first round costs one round trip, not two
        self._start(autoregressive=False, early_exit=early_exit, while_waiting=self._draft_session, wait=False)
        ds = self._draft_session()
        block: DraftBlock | None = None
        while not self.machine.done:
            t_round = time.monotonic()
            if block is None:
                ask = self.machine.plan()
                block = self.machine.drafted(ds.draft(ask.gamma, after=ask.after) if ask.gamma else None)
            try:
                final, window_s = self._round(block)
            except _Lost as lost:
                self.machine.lost()  # the same block goes to the re-opened session
                self._recover(lost, autoregressive=False, early_exit=early_exit)
                continue
            self._account(final)
            outcome = self.machine.final(final.verdict, finished=final.finished, window_s=window_s)
            self._stream(outcome, final.round)
            ds.commit(outcome.tokens)
            self._report_round(final, block, outcome, t_round)
            block = None
        self._close()

    # ------------------------------------------------------------------------------------------ rounds
    def _round(self, block: DraftBlock) -> tuple[p.Final, float | None]:
        """Send ``block``, pre-draft on its EARLY what the machine asks for; its FINAL, and the EARLY→FINAL window
        when the robot was free to hear the FINAL as it came (not busy pre-drafting past it), else None."""
        assert self.client is not None and self._ds is not None
        r = self._next_round
        self._next_round += 1
        self._send(p.Draft.from_block(self._sid, r, len(self.committed), block))
        self._sent_at = time.monotonic()
        self._early_at = None
        heard = True
        deadline = time.monotonic() + self.config.reply_timeout_s
        while True:
            msg = self._recv_for_session(deadline)
            if getattr(msg, "round", None) != r:
                continue
            if isinstance(msg, p.Early) and self._early_at is None:
                self._early_at = time.monotonic()
                ask = self.machine.early(msg.verdict)
                if ask is not None:
                    self.machine.predrafted(self._ds.draft(ask.gamma, after=ask.after, should_stop=self.client.pending))
                    heard = not self.client.pending()
            elif isinstance(msg, p.Final):
                self._final_at = time.monotonic()
                heard_window = self._early_at is not None and heard
                return msg, (self._final_at - self._early_at) if heard_window else None

    def _await_final(self) -> p.Final:
        """Autoregressive stream: the next FINAL of the current session."""
        deadline = time.monotonic() + self.config.reply_timeout_s
        while True:
            msg = self._recv_for_session(deadline)
            if isinstance(msg, p.Final):
                self._final_at = time.monotonic()
                return msg

    # ------------------------------------------------------------------------------------------ session
    def _draft_session(self) -> DraftSession:
        if self._ds is None:
            assert self.draft is not None
            self._ds = self._new_draft(self.draft, self.prompt, self.config.sampling)
            self._draft_prefill_s = self._ds.prefill_s
        return self._ds

    def _start(self, *, autoregressive: bool, early_exit: bool = False,
               while_waiting: Callable[[], object] | None = None, wait: bool = True) -> None:
        """The first open; an unreachable cloud here is handled like one lost later."""
        try:
            self._open(autoregressive=autoregressive, early_exit=early_exit, while_waiting=while_waiting, wait=wait)
        except _Lost as lost:
            self._recover(lost, autoregressive=autoregressive, early_exit=early_exit)

    def _open(self, *, autoregressive: bool, early_exit: bool = False,
              while_waiting: Callable[[], object] | None = None, wait: bool = True) -> p.Opened | None:
        """Open (or resume, with the committed tokens) a cloud session under a fresh id. ``wait=False``
        returns once sent: the OPENED reply (no round) is then skipped by ``_round``, an ERROR raised there."""
        assert self.client is not None
        self._opens += 1
        self._sid = f"{uuid.uuid4().hex[:16]}-{self._opens}"
        self._next_round = 0
        msg = p.Open(session=self._sid, text=self.prompt.text, system=self.prompt.system, image_jpeg=self._jpeg,
                     sampling=self.config.sampling, early_exit=early_exit, autoregressive=autoregressive,
                     max_new_tokens=self.config.max_new_tokens, committed=tuple(self.committed),
                     vocab_size=self._vocab, tokenizer_hash=self._fingerprint, grammar=self._grammar[0],
                     grammar_hash=self._grammar[1])
        self._send(msg)
        self._sent_at = time.monotonic()  # cloud_ar's first FINAL counts from here (a DRAFT resets it)
        if while_waiting is not None:  # e.g. the draft's prefill, overlapping the cloud's
            while_waiting()
        if not wait:
            return None
        deadline = time.monotonic() + self.config.reply_timeout_s
        while True:
            got = self._recv_for_session(deadline)
            if isinstance(got, p.Opened):
                if autoregressive:
                    self._next_round = 0
                return got

    def _recv_for_session(self, deadline: float) -> p.Message:
        """Next message for the current session id; ERRORs become _Lost (resumable) or CloudError."""
        assert self.client is not None
        while True:
            msg = self.client.recv(max(0.0, deadline - time.monotonic()))
            if msg is None:
                raise _Lost(f"no reply within {self.config.reply_timeout_s} s", silent=True)
            if getattr(msg, "session", None) != self._sid:
                continue  # stale: an old session's late reply, a PONG
            if isinstance(msg, p.Opened):
                self._prefill_s = msg.prefill_s
                self.machine.opened(msg.eos_token_ids)
            if isinstance(msg, p.Error):
                if msg.code in RESUMABLE:
                    raise _Lost(f"{msg.code}: {msg.reason}", silent=False)
                raise CloudError(msg)
            return msg

    def _recover(self, lost: _Lost, *, autoregressive: bool, early_exit: bool = False) -> None:
        """Get a session back: wait for the cloud (pinging on a fresh socket) if it went silent, then re-open."""
        assert self.client is not None
        give_up = time.monotonic() + self.config.reconnect_timeout_s
        silent = lost.silent
        while True:
            if silent:
                self._status("unreachable")
                while not self._reachable():
                    if time.monotonic() >= give_up:
                        raise CloudUnreachableError(f"cloud at {self.client.endpoint} unreachable for "
                                                    f"{self.config.reconnect_timeout_s} s ({lost})") from None
                self._reconnects += 1
                self._status("connected")
            try:
                self._open(autoregressive=autoregressive, early_exit=early_exit)
                return
            except _Lost as again:
                silent = again.silent
                if time.monotonic() >= give_up:
                    raise CloudUnreachableError(f"could not re-open the session: {again}") from None

    def _reachable(self) -> bool:
        assert self.client is not None
        self.client.reset()
        return self.client.ping(self.config.ping_interval_s)

    def _send(self, msg: p.Message) -> None:
        """Send, a frame that cannot be queued (no connection) counting as a silent cloud: recovered from."""
        assert self.client is not None
        try:
            self.client.send(msg)
        except CloudUnreachableError as err:
            raise _Lost(str(err), silent=True) from None

    def _close(self) -> None:
        if self.client is not None and self._sid:
            with contextlib.suppress(CloudUnreachableError):
                self.client.send(p.Close(session=self._sid))  # best effort: no wait

    # ------------------------------------------------------------------------------------------ output
    def _stream(self, outcome: Committed, round: int) -> None:
        """Each token a verdict committed (already in ``committed``) to ``on_token``, with its time."""
        first = len(self.committed) - len(outcome.tokens)
        for i, token in enumerate(outcome.tokens):
            t = time.monotonic() - self._t0
            self._times.append(t)
            if self.on_token is not None:
                self.on_token(TokenEvent(index=first + i, token=token, t_s=t, round=round))

    def _account(self, final: p.Final) -> None:
        self.metrics.target_busy_s += final.busy_s / final.batch
        self.metrics.target_forward_passes += 1

    def _report_round(self, final: p.Final, block: DraftBlock, outcome: Committed, t_round: float) -> None:
        if self.on_round is None:
            return
        now = time.monotonic()
        early_s = self._early_at - self._sent_at if (outcome.early is not None and self._early_at is not None) else 0.0
        prefill_s, draft_prefill_s = self._prefill_s, self._draft_prefill_s
        self._prefill_s = self._draft_prefill_s = 0.0
        self.on_round(RoundEvent(
            round=final.round, gamma=block.gamma, n_accepted=final.verdict.n_accepted, committed=len(self.committed),
            early_sent=outcome.early is not None, early_hit=outcome.hit, draft_s=block.seconds, early_s=early_s,
            final_s=self._final_at - self._sent_at, server_s=final.busy_s, round_s=now - t_round,
            sent_at=self._sent_at, queued_s=final.queued_s, prefill_s=prefill_s, draft_prefill_s=draft_prefill_s))

    def _status(self, status: str) -> None:
        self._statuses.append((time.monotonic() - self._t0, status))
        if self.on_status is not None:
            self.on_status(status)


def _plain_draft_session(model: LoadedModel, prompt: Prompt, sampling: SamplingConfig,
                         constraint: GrammarConstraint | None = None) -> DraftSession:
    from spec_decode_ros.decoding.draft import DraftSession  # torch, imported only where a draft runs

    return DraftSession(model, prompt, sampling, constraint=constraint)


def _eos_until_opened(draft: LoadedModel | None, tokenizer: object | None) -> set[int]:
    """The end-of-sequence ids before OPENED names the target's: the draft's (the tokenizer is shared)."""
    if draft is not None and draft.eos_token_ids:
        return set(draft.eos_token_ids)
    eos_id = getattr(tokenizer, "eos_token_id", None)
    return {int(eos_id)} if eos_id is not None else set()

"""The target side: per-session KV caches and batched verification with an early exit.

``verify`` runs ONE forward over [pending, d_1..d_γ] of every session (left-padded batch cache,
per-row positions). A session prefilled with ``defer=True`` holds no cache yet, only its encoded prompt (and its KV
bytes reserved): its first verification runs alone and feeds prompt[:-1] + [pending, d_1..d_γ] in ONE forward, so
the prefill and the answer's first round cost one forward, not two (``fuses_exactly`` says for which dtypes).
A forward hook on decoder layer ℓ-1 applies the exit adapter, the model's own
final norm and LM head, decides the early verdict per row and hands it to ``on_early`` before
layers [ℓ, L) run on the same hidden states; the final logits then decide (n, y), which are
committed and the caches cropped to the committed length.

A session with a grammar (``constrain``) masks its logits at every verified position before the acceptance rule,
the exit head's and the final head's alike (one set of masks per row, computed before the forward from the
committed tokens and the drafts), so early and final verdicts are both the constrained target's; its matcher
advances on what each verdict commits and is rebuilt from the committed tokens when a session resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import DynamicCache

from spec_decode_ros.decoding import kv
from spec_decode_ros.decoding.acceptance import confidence, draft_probs_dense, greedy_verdict, sampling_verdict
from spec_decode_ros.decoding.adapters import ExitAdapters
from spec_decode_ros.decoding.constraint import GrammarConstraint, TokenMatcher
from spec_decode_ros.decoding.models import (
    SEQUENCE_KEYS,
    EncodedPrompt,
    LoadedModel,
    load_model,
    reset_rope_deltas,
    rope_delta,
    rope_deltas,
)
from spec_decode_ros.decoding.round import committed
from spec_decode_ros.decoding.sampling import GREEDY, processed_probs, resumed_generator, validate
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig, SpecMetrics, Verdict
from spec_decode_ros.decoding.vocab import first_outside

EarlyCallback = Callable[[list[Verdict]], None]


class TargetSession:
    """One sequence on the target: KV cache of prompt[:-1] + committed tokens, and the pending token."""

    def __init__(self, cache: DynamicCache | None, pending: int, next_pos: int, sampling: SamplingConfig, *,
                 deferred: EncodedPrompt | None = None, reserved_bytes: int = 0) -> None:
        self.generated: list[int] = []  # committed generated tokens (the pending one is the last)
        self.finished = False
        self.cache: DynamicCache | None = cache
        self.deferred = deferred  # the prompt, not prefilled yet: the first verification prefills it too
        self.reserved_bytes = reserved_bytes  # a deferred prompt's KV bytes, counted before they are allocated
        self.pending = pending  # fed first at the next verification, not cached yet
        self.next_pos = next_pos  # position id of the pending token
        self.sampling = sampling
        self.generator = torch.Generator().manual_seed(sampling.seed)
        self.metrics = SpecMetrics()  # exit agreement, forward passes, busy time (verdict counts: the caller's)
        self.matcher: TokenMatcher | None = None  # the grammar's state at ``generated`` (``EarlyExitTarget.constrain``)

    def cached_tokens(self) -> int:
        return kv.cache_length(self.cache) if self.cache is not None else 0

    def memory_bytes(self) -> int:
        return kv.memory_bytes(self.cache) if self.cache is not None else self.reserved_bytes


@dataclass
class _Row:
    session: TargetSession
    block: DraftBlock
    tokens: list[int]  # [pending, d_1..d_γ]
    q_start: int = 0  # query positions before this row's tokens (a deferred prefill's prompt[:-1])
    u: torch.Tensor | None = None  # [γ+1] accept uniforms (sampling)
    v: torch.Tensor | None = None  # [γ+1] resampling uniforms (sampling)
    draft_dense: torch.Tensor | None = None  # [γ, V]
    exit_top1: list[int] = field(default_factory=list)
    out_cache: DynamicCache | None = None  # the cache the forward wrote into (the session's own, or a batch)
    out_row: int = 0  # this row's index in out_cache
    out_offset: int = 0  # left padding of this row in out_cache
    old_len: int = 0  # cached positions before this verification
    allowed: torch.Tensor | None = None  # [γ+1, V] bool: the grammar's legal tokens at each position (None: free)


@dataclass
class _Pass:
    rows: list[_Row]
    on_early: EarlyCallback | None
    fired: bool = False
    callback_s: float = 0.0


class EarlyExitTarget:
    """A target model with optional early exits (adapters) that verifies draft blocks of many sessions."""

    def __init__(self, model: LoadedModel, adapters: ExitAdapters | None = None, *,
                 exit_layer: int | None = None) -> None:
        """``exit_layer``: which of the adapters' exits gives the early verdict (default: the first)."""
        self.model = model
        self.adapters = adapters
        self.exit_layers: tuple[int, ...] = adapters.layers if adapters is not None else ()
        if adapters is not None:
            if adapters.hidden != model.hidden_size:
                raise ValueError(f"exit adapters have hidden size {adapters.hidden}, {model.name} has {model.hidden_size}")
            if max(self.exit_layers) >= model.num_layers:
                raise ValueError(f"exit layers {self.exit_layers} must be < the {model.num_layers} decoder layers")
            weight = next(model.model.parameters())
            adapters.to(device=weight.device, dtype=weight.dtype).eval().requires_grad_(False)
            if exit_layer is not None and exit_layer not in self.exit_layers:
                raise ValueError(f"exit_layer {exit_layer} has no adapter; adapters exist for {self.exit_layers}")
            self.active_exit = exit_layer if exit_layer is not None else self.exit_layers[0]
            model.layers[self.active_exit - 1].register_forward_hook(self._hook)
        self._pass: _Pass | None = None
        # image/video placeholder ids: a processor expands them into features, so no draft may carry one into a
        # fused prefill (``_prefill_and_verify``)
        config = model.model.config
        self._placeholders = frozenset(int(v) for key in ("image_token_id", "image_token_index", "video_token_id")
                                       for v in [getattr(config, key, None)] if isinstance(v, int))

    @classmethod
    def from_pretrained(cls, path: str | Path, *, exit_layer: int | None = None,
                        **load_kwargs: object) -> EarlyExitTarget:
        """Load a model; its exit adapters too when ``exit_adapters.*`` lie beside it."""
        model = load_model(path, **load_kwargs)
        adapters = ExitAdapters.load(path, hidden=model.hidden_size) if ExitAdapters.exists(path) else None
        return cls(model, adapters, exit_layer=exit_layer if adapters is not None else None)

    # --- sessions --------------------------------------------------------------------------------------
    @property
    def fuses_exactly(self) -> bool:
        """Whether a deferred prefill fused with the first verification gives bit for bit the verdicts of a
        separate prefill: float32 only. In half precision a forward over more tokens rounds differently (other
        kernels, other accumulation order), and a greedy near-tie can flip against the model's own generate(),
        so ``prefill(defer=True)`` prefills at once there. The one place this is decided."""
        return next(self.model.model.parameters()).dtype == torch.float32

    def open(self, prompt: Prompt, sampling: SamplingConfig = GREEDY, *, defer: bool = False) -> TargetSession:
        """Prefill prompt[:-1] (image included); the last prompt token becomes the pending token. ``defer``: see
        ``prefill``."""
        validate(sampling)
        return self.prefill(self.model.encode(prompt), sampling, defer=defer)

    @torch.inference_mode()
    def prefill(self, enc: EncodedPrompt, sampling: SamplingConfig = GREEDY, *, defer: bool = False) -> TargetSession:
        """``open`` for a prompt already encoded (``self.model.encode``, which needs no model forward and so
        can run beside verification); this is the one forward. With ``defer`` (and ``fuses_exactly``) no forward
        runs: the session keeps the encoded prompt, its KV bytes reserved, and its first ``verify`` (alone in
        its call) prefills it in the same forward."""
        validate(sampling)
        if enc.length < 2:
            raise ValueError(f"prompt encodes to {enc.length} token(s); the target needs at least 2")
        config = self.model.model.config
        element = next(self.model.model.parameters()).element_size()
        session = TargetSession(None, int(enc.input_ids[0, -1]), enc.length - 1, sampling, deferred=enc,
                                reserved_bytes=enc.length * kv.bytes_per_token(config, element))
        if not (defer and self.fuses_exactly):
            self._prefill(session)
        return session

    def _prefill(self, session: TargetSession) -> None:
        """Feed a deferred session's prompt[:-1] (image included) into a fresh cache: the plain prefill."""
        enc = session.deferred
        assert enc is not None
        self._fill(session, enc.prefix(enc.length - 1), keep=1)

    def _fill(self, session: TargetSession, inputs: dict, keep: int) -> torch.Tensor:
        """ONE forward of a deferred session's ``inputs`` (its prompt[:-1], then any tokens) into a fresh cache,
        which the session then holds like a prefilled one; the logits of the last ``keep`` positions [1, keep, V].
        The session changes only after the forward: a failed one leaves it deferred."""
        enc, model = session.deferred, self.model.model
        assert enc is not None
        cache = DynamicCache(config=model.config)
        reset_rope_deltas(model)
        out = model(**inputs, cache=cache, use_cache=True, logits_to_keep=keep)
        session.cache, session.deferred, session.reserved_bytes = cache, None, 0
        session.next_pos = enc.length - 1 + rope_delta(model)
        return out.logits

    @torch.inference_mode()
    def resume(self, session: TargetSession, committed: Sequence[int]) -> None:
        """Bring a freshly opened session to where a lost one was, ``committed`` generated tokens in (a robot
        re-opening after a restart or an eviction): ``resume_many`` with one row. Exact for greedy and sampling
        alike (no acceptance rule involved); sampling goes on with a fresh random stream."""
        if session.generated or (session.cache is None and session.deferred is None):
            raise ValueError("resume needs a freshly opened session")
        if committed:
            self.resume_many([session], [committed])

    def constrain(self, session: TargetSession, constraint: GrammarConstraint | None) -> None:
        """Mask this session's verifications with ``constraint`` (None: unconstrained) from its committed tokens on:
        a matcher built over ``session.generated`` (ValueError when they leave the grammar), so a resumed session
        continues where the lost one was."""
        if constraint is not None and constraint.vocab_rows != self.model.vocab_size:
            raise ValueError(f"constraint built for {constraint.vocab_rows} logits, the target has {self.model.vocab_size}")
        session.matcher = constraint.matcher(session.generated) if constraint is not None else None

    @torch.inference_mode()
    def prefill_many(self, encs: Sequence[EncodedPrompt],
                     samplings: Sequence[SamplingConfig] | None = None) -> list[TargetSession]:
        """``prefill`` of several prompts in ONE forward: prompt[:-1] of each right-padded to the longest (a
        causal row never attends to the padding after it), a 2D mask marking the padding, the image inputs
        concatenated in row order; each session keeps its own rows of the cache, cut to its own length.
        The prompts must batch together (``EncodedPrompt.batch_key``); one prompt is plain ``prefill``."""
        samplings = list(samplings) if samplings is not None else [GREEDY] * len(encs)
        if len(samplings) != len(encs) or not encs:
            raise ValueError(f"prefill_many needs one SamplingConfig per prompt, got {len(encs)} prompts, "
                             f"{len(samplings)} configs")
        for enc, sampling in zip(encs, samplings, strict=True):
            validate(sampling)
            if enc.length < 2:
                raise ValueError(f"prompt encodes to {enc.length} token(s); the target needs at least 2")
        if len({e.batch_key() for e in encs}) != 1:
            raise ValueError("prefill_many needs prompts with the same kind of inputs (see batch_key)")
        if len(encs) == 1:
            return [self.prefill(encs[0], samplings[0])]
        model = self.model.model
        lengths = [e.length - 1 for e in encs]
        width = max(lengths)
        pad = self.model.tokenizer.pad_token_id or 0
        inputs: dict[str, torch.Tensor] = {}
        for key in ("input_ids", *encs[0].extras):
            parts = [e.prefix(n)[key] for e, n in zip(encs, lengths, strict=True)]
            if key == "input_ids" or key in SEQUENCE_KEYS:
                fill = pad if key == "input_ids" else 0
                parts = [torch.nn.functional.pad(t, (0, width - t.shape[1]), value=fill) for t in parts]
            inputs[key] = torch.cat(parts, 0)
        mask = torch.zeros(len(encs), width, dtype=torch.long, device=model.device)
        for i, n in enumerate(lengths):
            mask[i, :n] = 1
        inputs["attention_mask"] = mask
        cache = DynamicCache(config=model.config)
        reset_rope_deltas(model)
        model(**inputs, cache=cache, use_cache=True, logits_to_keep=1)
        deltas = rope_deltas(model, len(encs))
        sessions = []
        for i, (enc, n, sampling) in enumerate(zip(encs, lengths, samplings, strict=True)):
            own = kv.take_row(cache, i, 0, n, model.config)
            sessions.append(TargetSession(own, int(enc.input_ids[0, -1]), n + deltas[i], sampling))
        return sessions

    @torch.inference_mode()
    def resume_many(self, sessions: Sequence[TargetSession], committed: Sequence[Sequence[int]]) -> None:
        """Bring freshly opened sessions to the tokens their robots already committed, in ONE forward: each row
        feeds [pending, committed[:-1]] onto its own cache (rows of different lengths batched as ``verify``
        does), so that it holds prompt + committed with committed[-1] pending; sampling goes on with a fresh
        random stream (``resumed_generator``: from the seed alone it would replay the uniforms that chose them)."""
        if len(sessions) != len(committed) or not sessions:
            raise ValueError(f"resume_many needs committed tokens per session, got {len(sessions)} sessions, "
                             f"{len(committed)} lists")
        if len({id(s) for s in sessions}) != len(sessions):
            raise ValueError("a session appears twice in one resume_many call")
        vocab = self.model.vocab_size
        rows = []
        for s, tokens in zip(sessions, committed, strict=True):
            if (s.cache is None and s.deferred is None) or s.finished or s.generated:
                raise ValueError("resume_many needs freshly opened sessions")
            if not tokens or first_outside(tokens, vocab) is not None:
                raise ValueError(f"committed tokens must be a non-empty list in [0, {vocab}), got {list(tokens)}")
            if s.deferred is not None:  # resumes keep the plain path: prefill first
                self._prefill(s)
            fed = [s.pending, *map(int, tokens[:-1])]
            rows.append(_Row(s, DraftBlock(tokens=tuple(fed[1:])), fed, old_len=s.cached_tokens()))
        self._pass = None
        self._forward(rows)
        for row, tokens in zip(rows, committed, strict=True):
            s, keep = row.session, row.old_len + len(row.tokens)
            if row.out_cache is not s.cache:
                s.cache = kv.take_row(row.out_cache, row.out_row, row.out_offset, row.out_offset + keep,
                                      self.model.model.config)
            if s.matcher is not None and not s.matcher.advance(tokens):
                raise ValueError(f"committed token {s.matcher.rejected} is outside the session's grammar")
            s.generated.extend(int(t) for t in tokens)
            s.pending = int(tokens[-1])
            s.next_pos += len(row.tokens)
            s.finished = s.pending in self.model.eos_token_ids
            s.generator = resumed_generator(s.sampling.seed, tokens)

    def close(self, session: TargetSession) -> None:
        session.cache = session.deferred = None
        session.reserved_bytes = 0
        session.finished = True

    # --- verification ----------------------------------------------------------------------------------
    @torch.inference_mode()
    def verify(self, sessions: Sequence[TargetSession], drafts: Sequence[DraftBlock], *,
               on_early: EarlyCallback | None = None, early_exit: bool = True) -> list[Verdict]:
        """One batched forward over all rows; early verdicts go to ``on_early`` from inside it."""
        if len(sessions) != len(drafts) or not sessions:
            raise ValueError(f"verify needs one DraftBlock per session, got {len(sessions)} sessions, {len(drafts)} blocks")
        if len({id(s) for s in sessions}) != len(sessions):
            raise ValueError("a session appears twice in one verify call")
        if len(sessions) > 1 and any(s.deferred is not None for s in sessions):
            raise ValueError("a deferred session's first verification (its prefill) runs alone in its verify call")
        vocab = self.model.vocab_size
        rows = []
        for s, block in zip(sessions, drafts, strict=True):
            if (s.cache is None and s.deferred is None) or s.finished:
                raise ValueError("verify on a finished or closed session")
            if first_outside(block.tokens, vocab) is not None:
                raise ValueError(f"draft tokens must lie in [0, {vocab}), got {list(block.tokens)}")
            row = _Row(s, block, [s.pending, *map(int, block.tokens)], old_len=s.cached_tokens())
            if s.matcher is not None:
                row.allowed = s.matcher.masks_after(block.tokens).to(self.model.model.device)
            if s.sampling.do_sample:
                row.u = torch.rand(len(row.tokens), generator=s.generator, dtype=torch.float64)
                row.v = torch.rand(len(row.tokens), generator=s.generator, dtype=torch.float64)
                row.draft_dense = draft_probs_dense(block, vocab)
            rows.append(row)
        use_exit = early_exit and self.adapters is not None
        self._pass = _Pass(rows, on_early) if use_exit else None
        callback_s = 0.0
        start = time.perf_counter()
        try:
            logits = self._forward(rows)  # [B, Q, V]
        except BaseException:
            for row in rows:  # a failed forward (or callback) leaves every session as it was
                if row.session.deferred is not None:
                    continue  # no cache was kept: still deferred, the next verification prefills again
                if row.session.cache is not None and row.session.cached_tokens() > row.old_len:
                    kv.crop(row.session.cache, row.old_len)
            raise
        finally:
            callback_s = self._pass.callback_s if self._pass is not None else 0.0
            self._pass = None
        verdicts = []
        for i, row in enumerate(rows):
            n_tok = len(row.tokens)
            verdict, top1 = self._decide(row, logits[i, :n_tok], exit_layer=-1)
            if row.exit_top1:
                m = row.session.metrics
                m.exit_agreement_total += n_tok
                m.exit_agreement_matches += sum(a == b for a, b in zip(row.exit_top1, top1, strict=True))
            verdicts.append(verdict)
        elapsed = time.perf_counter() - start - callback_s  # the caller's on_early work is not target time
        for row, verdict in zip(rows, verdicts, strict=True):
            self._commit(row, verdict)
            row.session.metrics.target_forward_passes += 1
            row.session.metrics.target_busy_s += elapsed / len(rows)
        return verdicts

    def _forward(self, rows: list[_Row]) -> torch.Tensor:
        model = self.model.model
        if rows[0].session.deferred is not None:
            return self._prefill_and_verify(rows[0])
        if len(rows) == 1:  # no padding: the session's own cache
            row = rows[0]
            ids = torch.tensor([row.tokens], device=model.device)
            pos = row.session.next_pos + torch.arange(len(row.tokens), device=model.device)[None]
            out = model(input_ids=ids, position_ids=pos, cache=row.session.cache, use_cache=True)
            row.out_cache = row.session.cache
            return out.logits.float()
        lengths = [r.old_len for r in rows]
        width_q = max(len(r.tokens) for r in rows)
        cache, width_c = kv.stack_left_padded([r.session.cache for r in rows], model.config)
        pad = self.model.tokenizer.pad_token_id or 0
        ids = torch.full((len(rows), width_q), pad, dtype=torch.long)
        mask = torch.zeros(len(rows), width_c + width_q, dtype=torch.long)
        pos = torch.zeros(len(rows), width_q, dtype=torch.long)
        for i, (r, n) in enumerate(zip(rows, lengths, strict=True)):
            q = len(r.tokens)
            ids[i, :q] = torch.tensor(r.tokens)
            mask[i, width_c - n: width_c + q] = 1
            pos[i] = r.session.next_pos + torch.arange(width_q)
        dev = model.device
        out = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                    cache=cache, use_cache=True)
        for i, (r, n) in enumerate(zip(rows, lengths, strict=True)):
            r.out_cache, r.out_row, r.out_offset = cache, i, width_c - n
        return out.logits.float()

    def _prefill_and_verify(self, row: _Row) -> torch.Tensor:
        """prompt[:-1] (image included) + [pending, d_1..d_γ] in one forward into a fresh cache; logits of the
        row's own positions [1, γ+1, V]. The session then holds the cache like a prefilled one."""
        s = row.session
        enc = s.deferred
        assert enc is not None
        if self._placeholders.intersection(row.tokens[1:]):  # a draft that names an image slot: not fusable
            held, self._pass = self._pass, None  # the plain prefill is no verification: no early verdict from it
            try:
                self._prefill(s)
            finally:
                self._pass = held
            row.old_len = s.cached_tokens()
            return self._forward([row])
        drafts = torch.tensor([row.tokens[1:]], dtype=enc.input_ids.dtype, device=enc.input_ids.device)
        inputs = enc.inputs()
        inputs["input_ids"] = torch.cat([enc.input_ids, drafts], dim=1)
        for key in SEQUENCE_KEYS:  # laid out like input_ids: text positions for the drafts
            if key in inputs:
                fill = torch.ones_like if key == "attention_mask" else torch.zeros_like
                inputs[key] = torch.cat([inputs[key], fill(drafts, dtype=inputs[key].dtype)], dim=1)
        row.q_start = enc.length - 1
        logits = self._fill(s, inputs, keep=len(row.tokens))
        row.old_len, row.out_cache = enc.length - 1, s.cache
        return logits.float()

    def _commit(self, row: _Row, verdict: Verdict) -> None:
        s = row.session
        keep = row.old_len + 1 + verdict.n_accepted
        if row.out_cache is s.cache:
            kv.crop(s.cache, keep)
        else:
            s.cache = kv.take_row(row.out_cache, row.out_row, row.out_offset, row.out_offset + keep,
                                  self.model.model.config)
        new = committed(row.block.tokens, verdict.n_accepted, verdict.next_token)
        if s.matcher is not None:
            s.matcher.advance(new)  # legal: each token was chosen under the mask
        s.generated.extend(new)
        s.pending = verdict.next_token
        s.next_pos += 1 + verdict.n_accepted
        s.finished = verdict.next_token in self.model.eos_token_ids

    def _decide(self, row: _Row, logits: torch.Tensor, exit_layer: int) -> tuple[Verdict, list[int]]:
        """logits [γ+1, V] -> verdict (+ top-1 per position); the grammar's mask first, when the session has one."""
        eos = self.model.eos_token_ids
        cfg = row.session.sampling
        if row.allowed is not None:
            logits = logits.masked_fill(~row.allowed[: logits.shape[0], : logits.shape[-1]], float("-inf"))
        if not cfg.do_sample:
            verdict, top1 = greedy_verdict(logits, row.block.tokens, eos)
            if exit_layer < 0:
                return verdict, top1
            conf = confidence(torch.softmax(logits, dim=-1), verdict.n_accepted)
            return Verdict(verdict.n_accepted, verdict.next_token, conf, exit_layer), top1
        probs = processed_probs(logits, cfg)
        verdict = sampling_verdict(probs, row.block, row.draft_dense, row.u, row.v, eos)
        top1 = logits.argmax(dim=-1).tolist()
        if exit_layer < 0:
            return verdict, top1
        return Verdict(verdict.n_accepted, verdict.next_token, confidence(probs, verdict.n_accepted), exit_layer), top1

    def _hook(self, module: torch.nn.Module, args: object, output: object) -> None:
        verification = self._pass
        if verification is None or verification.fired:
            return
        verification.fired = True  # before the callback: a pre-draft on the same model object must not re-enter
        hidden = output[0] if isinstance(output, tuple) else output  # [B, Q, H]
        start = verification.rows[0].q_start  # > 0 only for a deferred prefill, which runs alone
        logits = self.model.head(self.adapters(self.active_exit, hidden[:, start:]))  # [B, Q', V]
        early = []
        for i, row in enumerate(verification.rows):
            verdict, row.exit_top1 = self._decide(row, logits[i, : len(row.tokens)], self.active_exit)
            early.append(verdict)
        if verification.on_early is not None:
            t0 = time.perf_counter()
            verification.on_early(early)
            verification.callback_s = time.perf_counter() - t0


"""The draft side: one robot's draft model session with a rollback-by-longest-common-prefix cache.

The cache holds prompt + S for some generated-token sequence S. ``draft(γ, after=X)`` crops it to
the longest common prefix of S and (generated + X) and feeds the rest, so pre-drafting on an early
verdict (hit: the tokens are kept) and rollback after a miss need no special cases.

With a ``constraint`` (the command grammar, ``decoding.constraint``) the draft masks its logits before it picks
each token, its matcher following the committed tokens (``commit``) and undoing a block's tokens once drafted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from transformers import DynamicCache

from spec_decode_ros.decoding import kv
from spec_decode_ros.decoding.constraint import GrammarConstraint
from spec_decode_ros.decoding.models import LoadedModel, reset_rope_deltas, rope_delta
from spec_decode_ros.decoding.sampling import GREEDY, processed_probs, sample_index, validate
from spec_decode_ros.decoding.types import DraftBlock, Prompt, SamplingConfig


class DraftSession:
    """Drafts tokens after the committed generated tokens (plus a provisional ``after``)."""

    def __init__(self, model: LoadedModel, prompt: Prompt, sampling: SamplingConfig = GREEDY, *,
                 max_support: int = 64, constraint: GrammarConstraint | None = None) -> None:
        validate(sampling)
        if max_support < 1:
            raise ValueError(f"max_support must be >= 1, got {max_support}")
        self.model = model
        self.sampling = sampling
        self.max_support = max_support  # sampling: the draft samples from its top-`max_support` (sent as is)
        self.generated: list[int] = []
        self.generator = torch.Generator().manual_seed(sampling.seed + 7919)  # not the target's stream
        start = time.perf_counter()
        enc = model.encode(prompt)
        self._cache = DynamicCache(config=model.model.config)
        with torch.inference_mode():
            reset_rope_deltas(model.model)
            out = model.model(**enc.inputs(), cache=self._cache, use_cache=True, logits_to_keep=1)
        self._prompt_len = enc.length
        self._base_pos = enc.length + rope_delta(model.model)  # position id of the first generated token
        self._vocab: torch.Tensor | None = None
        if model.draft_vocab is not None:  # pruned head: logits only for these ids, -inf elsewhere
            self._vocab = torch.tensor(sorted(set(model.draft_vocab) | set(model.eos_token_ids)),
                                       device=model.model.device)
            head = model.model.get_output_embeddings()
            self._head_w = head.weight[self._vocab].detach()  # [V', H]
            self._head_b = head.bias[self._vocab].detach() if getattr(head, "bias", None) is not None else None
        self._prompt_logits = self._restrict(out.logits[0, -1].float())
        self._cached: list[int] = []  # generated-token sequence held by the cache after the prompt
        self._logits = self._prompt_logits  # next-token logits after prompt + _cached
        self.matcher = constraint.matcher() if constraint is not None else None  # at ``generated``
        self.prefill_s = time.perf_counter() - start  # the prompt's prefill
        self.busy_s = self.prefill_s  # all of this session's model time: prefill, drafts, next tokens

    def commit(self, tokens: Sequence[int]) -> None:
        """Append final (target-verified) tokens; the cache catches up lazily at the next draft."""
        tokens = [int(t) for t in tokens]
        if self.matcher is not None and not self.matcher.advance(tokens):
            raise ValueError(f"committed token {self.matcher.rejected} is outside the grammar: the target was not "
                             "constrained by the same grammar")
        self.generated.extend(tokens)

    @torch.inference_mode()
    def draft(self, gamma: int, *, after: Sequence[int] = (),
              should_stop: Callable[[], bool] | None = None) -> DraftBlock:
        """Up to γ tokens continuing generated + after; stops early at EOS or when should_stop() says so."""
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        start = time.perf_counter()
        self._sync(self.generated + [int(t) for t in after])
        tokens: list[int] = []
        ids_rows: list[torch.Tensor] = []
        val_rows: list[torch.Tensor] = []
        matched = 0  # tokens the matcher consumed in this call (undone at the end)
        legal = True
        for t in after if self.matcher is not None else ():
            legal = self.matcher.advance([t])
            if not legal:  # a prefix outside the grammar: nothing to draft after it
                break
            matched += 1
        for i in range(gamma if legal else 0):
            if i > 0 and should_stop is not None and should_stop():
                break
            if self.sampling.do_sample:
                logits = self._constrained(self._logits)
                if logits is None:
                    break  # nothing the draft can say is legal here (a pruned head): the target decides alone
                tok, ids, vals = self._sample(logits)
                ids_rows.append(ids)
                val_rows.append(vals)
            else:
                tok = self._greedy()
                if tok is None:
                    break
            tokens.append(tok)
            if self.matcher is not None:
                self.matcher.advance([tok])
                matched += 1
            if tok in self.model.eos_token_ids or i == gamma - 1:
                break
            self._feed([tok])
        if self.matcher is not None:
            self.matcher.rollback(matched)
        seconds = time.perf_counter() - start
        self.busy_s += seconds
        prob_ids = prob_values = None
        if self.sampling.do_sample and tokens:
            prob_ids = torch.stack(ids_rows).cpu().numpy().astype(np.int64)
            prob_values = torch.stack(val_rows).float().cpu().numpy().astype(np.float32)
        return DraftBlock(tuple(tokens), tuple(int(t) for t in after), prob_ids, prob_values, seconds)

    @torch.inference_mode()
    def next_token(self) -> int:
        """Edge-only baseline: the draft's own next token (greedy or sampled), committed."""
        start = time.perf_counter()
        self._sync(self.generated)
        if self.sampling.do_sample:
            logits = self._constrained(self._logits)
            tok = self._sample(logits)[0] if logits is not None else None
        else:
            tok = self._greedy()
        if tok is None:  # the pruned head has no legal token: end the answer
            tok = min(self.model.eos_token_ids)
        self.commit([tok])
        self.busy_s += time.perf_counter() - start
        return tok

    def cached_tokens(self) -> int:
        return kv.cache_length(self._cache)

    def _greedy(self) -> int | None:
        """The argmax of the next-token logits among the legal tokens (None: none is legal). The unmasked argmax
        when the grammar allows it (one bit test, no mask built), which is the masked argmax too."""
        tok = int(self._logits.argmax())
        if self.matcher is None or self.matcher.allows(tok):
            return tok
        logits = self._constrained(self._logits)
        return int(logits.argmax()) if logits is not None else None

    def _constrained(self, logits: torch.Tensor) -> torch.Tensor | None:
        """The logits with the grammar's illegal tokens at -inf (a copy; None when no legal token is left)."""
        if self.matcher is None:
            return logits
        masked = self.matcher.masked(logits)
        if self._vocab is not None and not bool(torch.isfinite(masked.max())):
            return None  # a pruned head: none of its tokens is legal here
        return masked

    def _sample(self, logits: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
        probs = processed_probs(logits, self.sampling)  # [V]
        support = min(self.max_support, probs.shape[-1], self.sampling.top_k or probs.shape[-1])
        vals, ids = torch.topk(probs, support)  # [k]
        vals = vals / vals.sum()
        u = torch.rand((), generator=self.generator, dtype=torch.float64)
        return int(ids[sample_index(vals, u)]), ids, vals

    def _sync(self, seq: list[int]) -> None:
        """Make the cache hold prompt + seq and self._logits the next-token logits after it."""
        lcp = 0
        limit = min(len(seq), len(self._cached))
        while lcp < limit and seq[lcp] == self._cached[lcp]:
            lcp += 1
        if lcp == len(seq) == len(self._cached):
            return
        if lcp == len(seq):  # seq is a proper prefix of what is cached: step back one token and re-feed it
            if lcp == 0:
                kv.crop(self._cache, self._prompt_len)
                self._cached = []
                self._logits = self._prompt_logits
                return
            lcp -= 1
        kv.crop(self._cache, self._prompt_len + lcp)
        del self._cached[lcp:]
        self._feed(seq[lcp:])

    def _feed(self, tokens: list[int]) -> None:
        dev = self.model.model.device
        ids = torch.tensor([tokens], device=dev)
        pos = self._base_pos + len(self._cached) + torch.arange(len(tokens), device=dev)[None]
        if self._vocab is None:
            out = self.model.model(input_ids=ids, position_ids=pos, cache=self._cache, use_cache=True,
                                   logits_to_keep=1)
            logits = out.logits[0, -1].float()
        else:  # text decoder only (continuations are text tokens), then the pruned head
            hidden = self.model.decoder(input_ids=ids, position_ids=pos, cache=self._cache,
                                        use_cache=True).last_hidden_state[0, -1]  # [H], final norm applied
            sub = torch.nn.functional.linear(hidden, self._head_w, self._head_b).float()  # [V']
            logits = torch.full((self.model.vocab_size,), float("-inf"), device=sub.device)
            logits[self._vocab] = sub
        self._cached.extend(tokens)
        self._logits = logits

    def _restrict(self, logits: torch.Tensor) -> torch.Tensor:
        if self._vocab is None:
            return logits
        out = torch.full_like(logits, float("-inf"))
        out[self._vocab] = logits[self._vocab]
        return out


DraftFactory = Callable[[LoadedModel, Prompt, SamplingConfig], DraftSession]  # makes a robot's draft sessions

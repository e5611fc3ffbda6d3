"""The command grammar as a token-level constraint (xgrammar), for the target's verification and the draft's drafting.

``GrammarConstraint`` compiles ``control.grammar.answer_pattern()`` (the one definition of the command language)
for one tokenizer and one logits width; ``TokenMatcher`` follows one answer: ``allowed()`` is the mask of legal
next tokens, ``advance`` consumes committed tokens, ``rollback`` undoes tokens, ``masks_after(d)`` gives the masks
of every position of a verification [after C, after C+d_1, …, after C+d_1..d_γ] and leaves the matcher where it
was. Both sides mask their logits with it (the target before its acceptance rule, at the exit head too; the draft
before it picks), so the output is exactly the constrained target's: greedy token for token, sampling the
constrained target's distribution. Where the grammar dead-ends in a vocabulary (no token continues a legal prefix,
e.g. a word-level vocabulary without digits after "turn left"), only EOS stays legal: the answer ends there and
the robot's parser rejects the incomplete command, so nothing moves on it.

Why xgrammar: measured against llguidance and outlines-core on the same pattern and token bytes
(``bench/grammar_libraries.py``, ``bench/results/grammar_libraries.json``). On a 151 k byte-level BPE vocabulary
the mask per token is 1.3 µs median (xgrammar), 15 µs (llguidance), 0.4 µs (outlines-core): all far below a
forward. What separates them: outlines-core builds its index in 3.2 s per tokenizer (xgrammar compiles in 17 ms)
and rolls back a bounded number of tokens; llguidance refuses the embedded pair's word-level tokenizer
(NoExtensionBias) and takes 0.9 s to read a 151 k vocabulary; xgrammar handles all three tokenizers and rolls
back any number of tokens. All three ship cp310 aarch64 wheels (a Jetson) and cp311 x86_64 ones.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from spec_decode_ros.control.grammar import answer_pattern
from spec_decode_ros.decoding.token_bytes import token_bytes

GRAMMAR_NAME = "go2-commands"  # what OPEN names; the hash says which version of the language


@lru_cache(maxsize=8)
def grammar_hash(pattern: str | None = None) -> str:
    """The grammar's identity on the wire: sha256 of its pattern, 16 hex digits (computed once per pattern)."""
    return hashlib.sha256((pattern or answer_pattern()).encode()).hexdigest()[:16]


class GrammarConstraint:
    """The command grammar compiled for one tokenizer and a logits width of ``vocab_rows`` (ids at or above the
    tokenizer's length, padding rows of an LM head, are never legal)."""

    def __init__(self, tokenizer: object, vocab_rows: int, stop_ids: Iterable[int], *,
                 pattern: str | None = None, name: str = GRAMMAR_NAME) -> None:
        import xgrammar as xgr

        self.pattern = pattern or answer_pattern()
        self.name = name
        self.hash = grammar_hash(self.pattern)
        self.vocab_rows = int(vocab_rows)
        self.stop_ids = sorted({int(t) for t in stop_ids})
        self.stop_set = frozenset(self.stop_ids)
        if not self.stop_ids:
            raise ValueError("a grammar constraint needs at least one stop (EOS) token id")
        pieces, special = token_bytes(tokenizer)
        if len(pieces) > self.vocab_rows:
            raise ValueError(f"tokenizer has {len(pieces)} tokens, more than the model's {self.vocab_rows} logits")
        specials = set(special)
        encoded = [b"" if i in specials else p for i, p in enumerate(pieces)]  # xgrammar: "" marks a special token
        info = xgr.TokenizerInfo(encoded, xgr.VocabType.RAW, vocab_size=self.vocab_rows, stop_token_ids=self.stop_ids)
        self._compiled = xgr.GrammarCompiler(info, max_threads=1).compile_regex(self.pattern)

    @classmethod
    def for_model(cls, model: object) -> GrammarConstraint:
        """The constraint for a ``LoadedModel`` (its tokenizer, logits width and EOS ids), compiled once per model."""
        with _LOCK:
            key = id(model)
            got = _CACHE.get(key)
            if got is None or got[0] is not model:
                constraint = cls(model.tokenizer, model.vocab_size, model.eos_token_ids)  # type: ignore[attr-defined]
                _CACHE[key] = got = (model, constraint)
            return got[1]

    def matcher(self, committed: Sequence[int] = ()) -> TokenMatcher:
        """A matcher at the start of an answer, advanced over ``committed`` (ValueError if they leave the grammar)."""
        import xgrammar as xgr

        m = TokenMatcher(self, xgr.GrammarMatcher(self._compiled))  # rolls back any number of tokens
        if committed and not m.advance(committed):
            raise ValueError(f"committed tokens leave the grammar {self.name!r} at token {m.rejected}")
        return m

    def bitmask(self, rows: int) -> torch.Tensor:
        """A [rows, ceil(V/32)] int32 bitmask buffer, all legal (xgrammar's layout, on the CPU)."""
        return torch.full((rows, (self.vocab_rows + 31) // 32), -1, dtype=torch.int32)

    def bool_masks(self, words: np.ndarray) -> torch.Tensor:
        """[R, ceil(V/32)] bitmask words (uint32) -> [R, vocab_rows] bool (True: legal); an empty row allows the
        stop ids."""
        bits = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")[:, : self.vocab_rows].view(bool)
        if not words.any(axis=-1).all():
            bits[np.ix_((~bits.any(axis=-1)).nonzero()[0], self.stop_ids)] = True
        return torch.from_numpy(bits)


_LOCK = threading.Lock()
_CACHE: dict[int, tuple[object, GrammarConstraint]] = {}


@dataclass
class TokenMatcher:
    """One answer's position in the grammar. ``rejected``: the first token ``advance`` refused (None if none)."""

    constraint: GrammarConstraint
    _m: object
    rejected: int | None = None
    _ended: bool = False  # a stop token was the last one consumed (nothing can follow it)
    _rows: torch.Tensor = field(init=False)  # bitmask buffer xgrammar fills, grown as blocks need
    _words: np.ndarray = field(init=False)  # the same memory as uint32 words: bit tests without torch

    def __post_init__(self) -> None:
        self._grow(1)

    def _grow(self, rows: int) -> None:
        if not hasattr(self, "_rows") or self._rows.shape[0] < rows:
            self._rows = self.constraint.bitmask(rows)
            self._words = self._rows.numpy().view(np.uint32)

    def _bits(self, row: int) -> None:
        """Fill bitmask row ``row`` with the legal next tokens; after an accepted EOS nothing follows but EOS again
        (no verdict reads that row: an accepted EOS ends the answer)."""
        if self._ended:
            self._words[row] = 0
            for t in self.constraint.stop_ids:
                self._words[row, t >> 5] |= np.uint32(1 << (t & 31))
            return
        self._m.fill_next_token_bitmask(self._rows, row)  # type: ignore[attr-defined]

    def _legal(self, row: int, token: int) -> bool:
        return 0 <= token < self.constraint.vocab_rows and bool((self._words[row, token >> 5] >> (token & 31)) & 1)

    def allows(self, token: int) -> bool:
        """Whether ``token`` is legal next (one bit of the mask; no mask is built)."""
        self._bits(0)
        return self._legal(0, token)

    def allowed(self) -> torch.Tensor:
        """[vocab_rows] bool: the tokens legal next."""
        self._bits(0)
        return self.constraint.bool_masks(self._words[:1])[0]

    def mask_(self, logits: torch.Tensor) -> torch.Tensor:
        """Set the logits of illegal next tokens to -inf, in place; returns ``logits`` ([V] or [1, V])."""
        return logits.masked_fill_(~self.allowed().to(logits.device).view(logits.shape), float("-inf"))

    def masked(self, logits: torch.Tensor) -> torch.Tensor:
        """A copy of ``logits`` with the illegal next tokens at -inf."""
        return logits.masked_fill(~self.allowed().to(logits.device).view(logits.shape), float("-inf"))

    def advance(self, tokens: Iterable[int]) -> bool:
        """Consume tokens in order; False (and ``rejected`` set) at the first the grammar refuses, which is not
        consumed (those before it are)."""
        for t in tokens:
            if not self._accept(int(t)):
                self.rejected = int(t)
                return False
        return True

    def _accept(self, token: int) -> bool:
        ok = bool(self._m.accept_token(token))  # type: ignore[attr-defined]
        self._ended = ok and token in self.constraint.stop_set
        return ok

    def rollback(self, n: int) -> None:
        if n > 0:
            self._m.rollback(n)  # type: ignore[attr-defined]
            self._ended = False  # a stop token is always the last consumed: undoing any token undoes it

    def masks_after(self, drafts: Sequence[int]) -> torch.Tensor:
        """[len(drafts)+1, vocab_rows] bool: the legal tokens after the committed tokens and after each draft
        prefix. Past the first draft the grammar refuses, rows allow everything (no verdict reads them: that
        draft is rejected at its own row). The matcher ends where it started."""
        rows = len(drafts) + 1
        self._grow(rows)
        consumed = 0
        for i in range(rows):
            self._bits(i)
            if i == len(drafts):
                break
            t = int(drafts[i])
            if not self._legal(i, t) or not self._accept(t):
                self._words[i + 1: rows] = 0xFFFFFFFF
                break
            consumed += 1
        self.rollback(consumed)
        return self.constraint.bool_masks(self._words[:rows])

    def forced(self) -> int | None:
        """The one legal next token, if the grammar leaves exactly one; else None."""
        allowed = self.allowed()
        return int(allowed.nonzero()[0]) if int(allowed.sum()) == 1 else None

    @property
    def finished(self) -> bool:
        """The answer is over: a stop token was consumed."""
        return self._ended

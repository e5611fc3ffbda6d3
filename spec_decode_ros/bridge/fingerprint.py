"""A tokenizer's identity on the wire: robots may use any draft model whose tokenizer equals the target's."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Protocol

# tokenizer id -> (tokenizer, its size, fingerprint): the table is hashed once per tokenizer, not once per answer
# (about 65 ms for a 151 k vocabulary); a tokenizer that grew (``add_tokens``) is hashed again
_CACHE: dict[int, tuple[object, int, str]] = {}
_LOCK = threading.Lock()


class _Vocab(Protocol):
    def get_vocab(self) -> dict[str, int]: ...

    def __len__(self) -> int: ...


def tokenizer_fingerprint(tokenizer: _Vocab) -> str:
    """SHA-256 (hex, 32 chars) of the token → id table: equal exactly when two vocabularies agree."""
    size = len(tokenizer)
    with _LOCK:
        got = _CACHE.get(id(tokenizer))
    if got is not None and got[0] is tokenizer and got[1] == size:
        return got[2]
    fingerprint = _hash_table(tokenizer)
    with _LOCK:
        _CACHE[id(tokenizer)] = (tokenizer, size, fingerprint)
    return fingerprint


def _hash_table(tokenizer: _Vocab) -> str:
    table = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(table, ensure_ascii=False).encode()).hexdigest()[:32]

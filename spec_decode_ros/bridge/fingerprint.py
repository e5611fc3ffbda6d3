"""A tokenizer's identity on the wire: robots may use any draft model whose tokenizer equals the target's."""

from __future__ import annotations

import hashlib
import json
from typing import Protocol


class _Vocab(Protocol):
    def get_vocab(self) -> dict[str, int]: ...

    def __len__(self) -> int: ...


def tokenizer_fingerprint(tokenizer: _Vocab) -> str:
    """SHA-256 (hex, 32 chars) of the token → id table: equal exactly when two vocabularies agree."""
    table = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(table, ensure_ascii=False).encode()).hexdigest()[:32]

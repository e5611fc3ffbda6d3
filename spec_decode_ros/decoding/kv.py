"""KV-cache surgery on transformers ``DynamicCache``: crop (rollback), size, and batching.

Batching: per-session caches of different lengths are left-padded to one length C and stacked;
the new tokens of each row follow at columns C.. and are right-padded to the longest row. A 2D
attention mask marks the padding, explicit position ids give each row its own positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache, PretrainedConfig


def cache_length(cache: DynamicCache) -> int:
    return int(cache.get_seq_length())


def crop(cache: DynamicCache, length: int) -> None:
    """Keep the first ``length`` cached positions (in place)."""
    current = cache_length(cache)
    if length < 0 or length > current:
        raise ValueError(f"cannot crop a cache of {current} positions to {length}")
    if length < current:
        cache.crop(length - current)


def memory_bytes(cache: DynamicCache) -> int:
    total = 0
    for layer in cache.layers:
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    return total


def bytes_per_token(config: PretrainedConfig, element_size: int) -> int:
    """KV bytes one cached token takes (keys + values of every layer): a prompt's cost known before its prefill."""
    text = config.get_text_config()
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return 2 * text.num_hidden_layers * kv_heads * head_dim * element_size


def stack_left_padded(caches: Sequence[DynamicCache], config: PretrainedConfig) -> tuple[DynamicCache, int]:
    """One batch cache [B, heads, C, d] per layer, each row left-padded with zeros to C = the longest."""
    lengths = [cache_length(c) for c in caches]
    width = max(lengths)
    data = []
    for li in range(len(caches[0].layers)):
        ks, vs = [], []
        for cache, n in zip(caches, lengths, strict=True):
            k, v = cache.layers[li].keys, cache.layers[li].values
            pad = width - n
            if pad:
                k = torch.nn.functional.pad(k, (0, 0, pad, 0))
                v = torch.nn.functional.pad(v, (0, 0, pad, 0))
            ks.append(k)
            vs.append(v)
        data.append((torch.cat(ks, 0), torch.cat(vs, 0)))
    return DynamicCache(ddp_cache_data=data, config=config), width


def take_row(batch: DynamicCache, row: int, start: int, end: int, config: PretrainedConfig) -> DynamicCache:
    """A single-row cache holding columns [start, end) of one batch row (copied, so the batch can be freed)."""
    data = [(layer.keys[row:row + 1, :, start:end].clone(), layer.values[row:row + 1, :, start:end].clone())
            for layer in batch.layers]
    return DynamicCache(ddp_cache_data=data, config=config)

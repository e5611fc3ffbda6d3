"""Decoding engine (torch + transformers only): models, KV caches, acceptance rules, early-exit target, drafting, metrics."""

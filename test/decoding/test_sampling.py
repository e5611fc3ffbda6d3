"""Logit processing (temperature, top-k, top-p) and inverse-CDF sampling."""

from __future__ import annotations

import torch

from spec_decode_ros.decoding.sampling import processed_probs, sample_index
from spec_decode_ros.decoding.types import SamplingConfig


def test_processed_probs_topk_topp_and_sampling():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0])
    p = processed_probs(logits, SamplingConfig(do_sample=True, top_k=2))
    assert (p[2:] == 0).all() and torch.isclose(p.sum(), torch.tensor(1.0))
    full = torch.softmax(logits, -1)
    p = processed_probs(logits, SamplingConfig(do_sample=True, top_p=0.8))
    keep = int((p > 0).sum())
    assert full[: keep - 1].sum() < 0.8 <= full[:keep].sum()  # smallest prefix reaching top_p
    hot = processed_probs(logits, SamplingConfig(do_sample=True, temperature=0.1))
    assert hot[0] > 0.99
    probs = torch.tensor([0.0, 0.5, 0.0, 0.5])
    assert sample_index(probs, 0.0) == 1 and sample_index(probs, 0.49) == 1 and sample_index(probs, 0.51) == 3
    assert sample_index(probs, 1.0) == 3

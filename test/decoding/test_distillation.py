"""Teacher targets and draft distillation on a tiny model: the distilled draft agrees more with the target."""

from __future__ import annotations

import pytest
import torch

from spec_decode_ros.decoding.corpus import generate_corpus, split
from spec_decode_ros.decoding.derive import truncated_copy
from spec_decode_ros.decoding.distillation import distill_draft, draft_agreement, sparse_kl, teacher_targets

PROMPTS = ["go to the red box", "turn left then walk forward", "where is the door", "stop", "look around then sit",
           "walk slowly to the green chair"]


def test_corpus_then_distilled_draft_agrees_more(pairs):
    target = pairs["llama"].model
    corpus = generate_corpus(target, PROMPTS, new_tokens=10, batch_size=3, progress=False)
    assert len(corpus) == len(PROMPTS)
    assert all(len(seq) > 10 for seq in corpus)  # prompt + continuation
    train, held = split(corpus, 0.34)
    assert len(held) == 2 and len(train) == 4
    t_train = teacher_targets(target, train, layers=(2,), k=8, progress=False)
    assert t_train.top_ids[0].shape == (len(train[0]), 8) and t_train.hidden[2][0].shape[-1] == target.hidden_size
    draft = truncated_copy(target, 1)
    before = draft_agreement(draft, t_train)
    losses = distill_draft(draft, t_train, steps=30, lr=3e-3, batch_size=2, progress=False)
    assert losses[-1] < losses[0]
    assert draft_agreement(draft, t_train) > before
    assert target.num_layers == 4  # the target itself was not touched


def test_sparse_kl_is_zero_for_the_teacher_itself():
    logits = torch.randn(5, 12)
    vals, ids = torch.topk(logits, 12)
    assert float(sparse_kl(logits, ids, torch.log_softmax(vals, -1))) == pytest.approx(0.0, abs=1e-5)
    assert float(sparse_kl(torch.zeros(5, 12), ids, torch.log_softmax(vals, -1))) > 0

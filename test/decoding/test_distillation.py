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


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3"])
def test_a_vlm_answer_corpus_keeps_the_answer_positions_with_their_image(pairs, family):
    """The target's greedy answers to (image, instruction) prompts, teacher-forced with the image: the kept
    positions are the ones predicting the answer, and the teacher's top-1 there is the answer itself."""
    from decoding.tiny_models import IMAGE
    from spec_decode_ros.decoding.corpus import answer_corpus
    from spec_decode_ros.decoding.types import Prompt

    target = pairs[family].model
    prompts = [Prompt("go to the red box", IMAGE), Prompt("where is the door", IMAGE[::-1].copy())]
    corpus = answer_corpus(target, prompts, new_tokens=8, progress=False)
    assert all(s.answer_start == target.encode(p).length for s, p in zip(corpus, prompts, strict=True))
    assert all("pixel_values" in s.extras for s in corpus)
    t = teacher_targets(target, corpus, layers=(2,), k=4, progress=False)
    for sample, ids, hidden in zip(corpus, t.top_ids, t.hidden[2], strict=True):
        answer = sample.ids[sample.answer_start:]
        assert len(ids) == len(hidden) == len(answer) + 1  # from the prompt's last position to the last token
        assert ids[:-1, 0].tolist() == answer.tolist()
    draft = truncated_copy(target, 1)
    losses = distill_draft(draft, t, steps=2, lr=3e-3, batch_size=1, progress=False)  # shorter than a warm-up
    assert len(losses) == 2 and all(loss == loss for loss in losses)

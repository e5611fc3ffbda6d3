"""The training loops: schedule, target cross-entropy on fresh simulator data, draft distillation."""

from __future__ import annotations

import pytest
import torch

from spec_decode_ros.embedded.architecture import VLMSpec, build_model, build_processor
from spec_decode_ros.embedded.batching import training_batch
from spec_decode_ros.embedded.data import StreamPrefetcher, take_examples
from spec_decode_ros.embedded.tokenizer import default_tokenizer
from spec_decode_ros.embedded.trainer import TrainConfig, lr_at, make_distill_loss, target_loss, train

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

TINY = VLMSpec(image_size=32, patch_size=16, vision_hidden=32, vision_layers=1, vision_heads=2, text_hidden=32,
               text_layers=2, text_heads=2, text_kv_heads=2)


def test_schedule_warms_up_then_decays():
    cfg = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(55, cfg) < lr_at(20, cfg)
    assert lr_at(100, cfg) == pytest.approx(1e-4)


def test_target_training_lowers_the_answer_loss_and_checkpoints():
    torch.manual_seed(0)
    tok = default_tokenizer()
    model, proc = build_model(TINY, tok, seed=0), build_processor(TINY, tok)
    probe = take_examples(11, "heldout", 16, image_size=32)
    with torch.no_grad():
        before = float(target_loss(model, training_batch(proc, probe)))
    seen = []
    cfg = TrainConfig(steps=24, batch_size=16, lr=5e-3, warmup_steps=4, new_per_step=4, warm_pool=32,
                      eval_every=12, stop_accuracy=None)
    with StreamPrefetcher([3], split="train", image_size=32) as stream:
        report = train(model, proc, stream, probe[:4], cfg, desc="test", on_eval=lambda r: seen.append(r.steps))
    with torch.no_grad():
        after = float(target_loss(model, training_batch(proc, probe)))
    assert report.steps == 24 and seen == [12, 24]
    assert report.fresh_examples == 32 + 24 * 4
    assert after < 0.8 * before


def test_distillation_loss_is_zero_for_a_copy_of_the_teacher():
    tok = default_tokenizer()
    teacher, proc = build_model(TINY, tok, seed=0), build_processor(TINY, tok)
    student = build_model(TINY, tok, seed=0)
    other = build_model(TINY, tok, seed=1)
    examples = take_examples(12, "heldout", 4, image_size=32)
    batch = training_batch(proc, examples)
    loss = make_distill_loss(teacher, proc)
    with torch.no_grad():
        same = float(loss(student, batch, examples))
        differ = float(loss(other, batch, examples))
        ce_self = float(torch.nn.functional.cross_entropy(*_argmax_pair(teacher, batch)))
    assert same == pytest.approx(ce_self, abs=1e-4)  # KL term vanishes, only CE to the teacher's argmax is left
    assert differ > same


def _argmax_pair(model, batch):
    from spec_decode_ros.embedded.trainer import answer_logits

    logits, _ = answer_logits(model, batch)
    return logits, logits.argmax(-1)

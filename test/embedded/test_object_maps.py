"""The auxiliary object-map probe: patch labels, its loss on a real forward, and training with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spec_decode_ros.embedded.architecture import VLMSpec, build_model, build_processor
from spec_decode_ros.embedded.batching import Example, training_batch
from spec_decode_ros.embedded.data import StreamPrefetcher, take_examples
from spec_decode_ros.embedded.object_maps import ObjectMapProbe, n_object_classes, patch_labels
from spec_decode_ros.embedded.tokenizer import default_tokenizer
from spec_decode_ros.embedded.trainer import TrainConfig, target_loss, train

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

TINY = VLMSpec(image_size=32, patch_size=16, vision_hidden=32, vision_layers=1, vision_heads=2, text_hidden=32,
               text_layers=2, text_heads=2, text_kv_heads=2)


def test_patch_labels_take_the_biggest_landmark_row_major():
    maps = np.zeros((1, 32, 32), np.uint8)
    maps[0, 0:16, 16:32] = 3  # top-right patch: all kind 3
    maps[0, 16:20, 0:3] = 5  # bottom-left: 12 px of kind 5 ...
    maps[0, 20:22, 0:2] = 7  # ... and 4 px of kind 7
    maps[0, 16:17, 16:19] = 9  # bottom-right: 3 px, below MIN_PIXELS
    assert patch_labels(maps, 16, 16).tolist() == [[0, 3, 5, 0]]
    with pytest.raises(ValueError, match="tile"):
        patch_labels(np.zeros((1, 30, 32), np.uint8), 16, 16)


def test_streams_carry_object_maps_that_match_their_images():
    examples = take_examples(4, "train", 6, image_size=32)
    assert all(e.object_map is None for e in examples)
    with StreamPrefetcher([4], split="train", image_size=32, object_maps=True) as stream:
        with_maps = stream.take(6)
    assert all(e.object_map is not None and e.object_map.shape == (32, 32) for e in with_maps)
    assert [e.answer for e in with_maps] == [e.answer for e in examples]  # same stream, same samples
    assert max(int(e.object_map.max()) for e in with_maps) <= n_object_classes() - 1
    assert any(e.object_map.any() for e in with_maps)


def test_probe_loss_reads_the_projector_output_and_trains():
    torch.manual_seed(0)
    tok = default_tokenizer()
    model, proc = build_model(TINY, tok, seed=0), build_processor(TINY, tok)
    probe = ObjectMapProbe(model)
    with pytest.raises(RuntimeError, match="forward"):
        probe.loss([])
    rng = np.random.default_rng(0)
    maps = [np.zeros((32, 32), np.uint8) for _ in range(4)]
    for i, m in enumerate(maps):
        m[:16, :16] = i + 1  # patch 0 shows kind i+1
    examples = [Example(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "go to the red box", "stop.", m)
                for m in maps]
    batch = training_batch(proc, examples)
    opt = torch.optim.Adam(list(model.parameters()) + list(probe.parameters()), lr=1e-2)
    losses = []
    for _ in range(30):
        target_loss(model, batch)  # a forward with images: the probe keeps the projector output
        loss = probe.loss(examples)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]  # gradients reach the vision tower and projector through the hook
    with pytest.raises(ValueError, match="object map"):
        probe.loss([Example(e.image, e.instruction, e.answer) for e in examples])
    probe.close()
    model(**{k: batch[k] for k in ("input_ids", "attention_mask", "pixel_values")})
    with pytest.raises(RuntimeError):
        probe.loss(examples)  # closed: the hook no longer records


def test_training_with_object_maps_runs_and_leaves_a_plain_model():
    tok = default_tokenizer()
    model, proc = build_model(TINY, tok, seed=0), build_processor(TINY, tok)
    before = set(model.state_dict())
    cfg = TrainConfig(steps=4, batch_size=8, lr=5e-3, warmup_steps=1, new_per_step=4, warm_pool=16, eval_every=4,
                      stop_accuracy=None, object_map_weight=0.5)
    heldout = take_examples(11, "heldout", 2, image_size=32)
    with StreamPrefetcher([3], split="train", image_size=32, object_maps=True) as stream:
        report = train(model, proc, stream, heldout, cfg, desc="test")
    assert report.steps == 4 and np.isfinite(report.final_loss)
    assert set(model.state_dict()) == before  # the probe is not part of the saved model
    assert not model.model.multi_modal_projector._forward_hooks

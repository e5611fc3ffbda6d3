"""A target warm-started at another image size: positions resampled, every other weight the same, and it runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spec_decode_ros.decoding.image_size import processor_image_size
from spec_decode_ros.embedded.architecture import SetupError, VLMSpec, build_model, build_processor
from spec_decode_ros.embedded.inference import greedy_answers
from spec_decode_ros.embedded.resize import resample_positions, resized_target
from spec_decode_ros.embedded.tokenizer import default_tokenizer

TINY = VLMSpec(image_size=32, patch_size=16, vision_hidden=32, vision_layers=1, vision_heads=2, text_hidden=32,
               text_layers=2, text_heads=2, text_kv_heads=2)


def test_resampling_keeps_cls_and_is_the_identity_on_the_same_grid():
    table = torch.randn(1 + 3 * 3, 8)
    assert torch.allclose(resample_positions(table, 3, 3), table, atol=1e-6)
    grown = resample_positions(table, 3, 5)
    assert grown.shape == (1 + 5 * 5, 8) and torch.equal(grown[0], table[0])
    flat = resample_positions(torch.ones(1 + 3 * 3, 4), 3, 4)
    assert torch.allclose(flat, torch.ones(1 + 4 * 4, 4), atol=1e-5)  # a constant field stays constant


def test_a_resized_target_keeps_its_weights_and_answers_at_the_new_size(tmp_path):
    tok = default_tokenizer()
    model, proc = build_model(TINY, tok, seed=3), build_processor(TINY, tok)
    grown, grown_proc, spec = resized_target(model, proc, TINY, 64)
    assert spec.image_size == 64 and spec.image_tokens == 16 and processor_image_size(grown_proc) == 64
    before, after = model.state_dict(), grown.state_dict()
    changed = [k for k in before if before[k].shape != after[k].shape or not torch.equal(before[k], after[k])]
    assert len(changed) == 1 and changed[0].endswith("position_embedding.weight")
    image = np.zeros((64, 64, 3), np.uint8)
    (answer,) = greedy_answers(grown, grown_proc, [image], ["go to the red box"])  # 16 image tokens fit
    assert isinstance(answer, str)
    with pytest.raises(SetupError, match="multiple of the patch size"):
        resized_target(model, proc, TINY, 40)

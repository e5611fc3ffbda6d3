"""The embedded VLMs are standard Llava checkpoints: built from a spec, saved, loaded by the engine's load_model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from spec_decode_ros.decoding.models import load_model
from spec_decode_ros.decoding.types import Prompt
from spec_decode_ros.embedded.architecture import DRAFT_SPEC, TARGET_SPEC, VLMSpec, build_model, build_processor
from spec_decode_ros.embedded.batching import prompt_batch
from spec_decode_ros.embedded.tokenizer import default_tokenizer

TINY = VLMSpec(image_size=32, patch_size=16, vision_hidden=32, vision_layers=1, vision_heads=2, text_hidden=32,
               text_layers=2, text_heads=2, text_kv_heads=2)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tok = default_tokenizer()
    folder = tmp_path_factory.mktemp("tiny_vlm")
    model = build_model(TINY, tok, seed=3)
    proc = build_processor(TINY, tok)
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder, model, proc


def test_specs_put_one_token_per_patch():
    assert TARGET_SPEC.image_tokens == (96 // 16) ** 2 == 36
    assert DRAFT_SPEC.image_size == TARGET_SPEC.image_size
    assert DRAFT_SPEC.text_layers < TARGET_SPEC.text_layers and DRAFT_SPEC.text_hidden < TARGET_SPEC.text_hidden


def test_build_is_seeded():
    tok = default_tokenizer()
    a, b = build_model(TINY, tok, seed=1), build_model(TINY, tok, seed=1)
    c = build_model(TINY, tok, seed=2)
    wa, wb, wc = (m.lm_head.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_load_model_reads_the_folder_through_the_standard_classes(saved):
    folder, model, proc = saved
    loaded = load_model(folder)
    assert isinstance(loaded.model, LlavaForConditionalGeneration)
    assert isinstance(loaded.processor, LlavaProcessor)
    assert loaded.is_vlm and loaded.eos_token_ids == frozenset({proc.tokenizer.eos_token_id})
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    enc = loaded.encode(Prompt("go to the red box", image))
    ours = prompt_batch(proc, [image], ["go to the red box"])
    assert torch.equal(enc.input_ids, ours["input_ids"])
    assert int((enc.input_ids == loaded.model.config.image_token_id).sum()) == TINY.image_tokens
    assert torch.allclose(enc.extras["pixel_values"], ours["pixel_values"])
    with torch.no_grad():
        a = loaded.model(**enc.inputs()).logits
        b = model.eval()(**ours).logits
    assert torch.allclose(a, b, atol=1e-5)

"""Training batches put labels on the answer tokens and EOS only; prompt batches are left-padded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spec_decode_ros.embedded.architecture import VLMSpec, build_processor
from spec_decode_ros.embedded.batching import IGNORE_INDEX, Example, prompt_batch, training_batch
from spec_decode_ros.embedded.tokenizer import default_tokenizer

SPEC = VLMSpec(image_size=32, patch_size=16)


@pytest.fixture(scope="module")
def processor():
    return build_processor(SPEC, default_tokenizer())


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def test_labels_cover_exactly_the_answer_and_eos(processor):
    tok = processor.tokenizer
    examples = [Example(_image(0), "go to the red box", "turn left 30, forward 1.5."),
                Example(_image(1), "find the blue ball", "stop.")]
    batch = training_batch(processor, examples)
    for row, example in enumerate(examples):
        labels = batch["labels"][row]
        kept = labels[labels != IGNORE_INDEX].tolist()
        assert kept == tok(example.answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert batch["attention_mask"][1, -1] == 0  # the shorter row is right-padded
    assert batch["pixel_values"].shape == (2, 3, 32, 32)


def test_prompt_batch_is_left_padded_and_ends_with_answer_token(processor):
    batch = prompt_batch(processor, [_image(0), _image(1)], ["go to the red box", "go to the red ball"])
    answer_id = processor.tokenizer.convert_tokens_to_ids("<answer>")
    assert torch.all(batch["input_ids"][:, -1] == answer_id)


def test_bad_images_and_mismatched_lengths_are_rejected(processor):
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        training_batch(processor, [Example(np.zeros((32, 32), np.uint8), "go to the red box", "stop.")])
    with pytest.raises(ValueError, match="2 images for 1 instructions"):
        prompt_batch(processor, [_image(0), _image(1)], ["go to the red box"])
    with pytest.raises(ValueError, match="no examples"):
        training_batch(processor, [])

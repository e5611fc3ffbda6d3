"""load_model / LoadedModel: chat template + processor encoding for every family, errors, decoder parts."""

from __future__ import annotations

import pytest
import torch

from decoding.tiny_models import IMAGE
from spec_decode_ros.decoding.models import load_model
from spec_decode_ros.decoding.types import Prompt


@pytest.mark.parametrize("family", ["llava", "idefics3", "qwen2_vl"])
def test_vlm_encoding_goes_through_the_processor(pairs, family):
    model = pairs[family].model
    assert model.is_vlm and model.processor is not None
    with_image = model.encode(Prompt("go to the red box", image=IMAGE, system="you are a robot"))
    without = model.encode(Prompt("go to the red box"))
    assert "pixel_values" in with_image.extras and "pixel_values" not in without.extras
    assert with_image.length > without.length  # image tokens were expanded by the processor
    prefix = with_image.prefix(with_image.length - 1)
    assert prefix["input_ids"].shape[1] == with_image.length - 1
    assert prefix["attention_mask"].shape[1] == with_image.length - 1
    assert torch.equal(prefix["pixel_values"], with_image.extras["pixel_values"])


def test_text_model_parts_and_errors(pairs, tmp_path):
    model = pairs["llama"].model
    enc = model.encode(Prompt("go to the red box", system="you are a robot"))
    text = model.tokenizer.decode(enc.input_ids[0])
    assert "system : you are a robot" in text and "assistant" in text  # the chat template ran
    assert model.num_layers == 4 and model.vocab_size == len(model.tokenizer)
    h = torch.zeros(1, 2, model.hidden_size)
    assert model.head(h).shape == (1, 2, model.vocab_size)
    assert model.decode(enc.input_ids[0, -3:].tolist())
    with pytest.raises(TypeError, match="Prompt"):
        model.encode("go")
    with pytest.raises(ValueError, match="uint8"):
        pairs["llava"].model.encode(Prompt("go", image=IMAGE.astype("float32")))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nothing")

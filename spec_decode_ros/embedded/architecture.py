"""Sizes and construction of the embedded VLMs: standard ``LlavaForConditionalGeneration`` models.

Each model is a tiny CLIP vision tower on square ``image_size`` px images (one token per
``patch_size`` patch, CLS dropped) feeding a two-layer projector into a tiny Llama decoder, with
``LlavaProcessor`` (``CLIPImageProcessor`` + the shared word-level tokenizer) saved beside it, so
``from_pretrained`` / ``AutoProcessor`` load them like any real Llava checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerBase,
)

from spec_decode_ros.embedded.tokenizer import CHAT_TEMPLATE


class SetupError(ValueError):
    """A model that cannot be made as asked (sizes that do not fit together, a folder that is not a saved
    model): the user's to fix, so ``spec-decode train`` reports it in one line, without a traceback."""


@dataclass(frozen=True)
class VLMSpec:
    """The sizes of one embedded VLM."""

    image_size: int = 96
    patch_size: int = 16
    vision_hidden: int = 128
    vision_layers: int = 2
    vision_heads: int = 4
    text_hidden: int = 128
    text_layers: int = 4
    text_heads: int = 4
    text_kv_heads: int = 4
    intermediate_factor: int = 4
    max_positions: int = 256

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


TARGET_SPEC = VLMSpec()
DRAFT_SPEC = VLMSpec(vision_hidden=64, vision_layers=1, vision_heads=4, text_hidden=64, text_layers=2,
                     text_heads=4, text_kv_heads=4)


def llava_config(spec: VLMSpec, tokenizer: PreTrainedTokenizerBase) -> LlavaConfig:
    """A ``LlavaConfig`` of ``spec`` sizes for ``tokenizer``'s vocabulary."""
    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_hidden * spec.intermediate_factor,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.text_hidden,
        intermediate_size=spec.text_hidden * spec.intermediate_factor // 3 * 2,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_kv_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(tokenizer.image_token),
        image_seq_length=spec.image_tokens,
        vision_feature_select_strategy="default",  # drop CLS
        vision_feature_layer=-1,  # the last vision layer (a tiny tower has none to spare)
        tie_word_embeddings=False,
    )


def build_processor(spec: VLMSpec, tokenizer: PreTrainedTokenizerBase) -> LlavaProcessor:
    """The ``LlavaProcessor`` of a ``spec`` model: square resize (no crop), CLIP normalisation."""
    image_processor = CLIPImageProcessorPil(
        size={"height": spec.image_size, "width": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
        do_center_crop=False,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLS, dropped by "default"
        chat_template=CHAT_TEMPLATE,
    )


def build_model(spec: VLMSpec, tokenizer: PreTrainedTokenizerBase, seed: int) -> LlavaForConditionalGeneration:
    """A freshly initialised (seeded) fp32 Llava model of ``spec`` sizes, with generation defaults set."""
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(llava_config(spec, tokenizer))
    gen = model.generation_config
    gen.bos_token_id = tokenizer.bos_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    gen.do_sample = False
    gen.max_new_tokens = 24
    return model


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

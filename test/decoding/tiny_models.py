"""Tiny random HF models (Llama, Qwen2-VL, Idefics3, Llava) built from configs, no download.

Each builder saves a complete model folder (weights, config, word-level tokenizer, processor and a
chat template) so the engine's own ``load_model(path)`` is what the tests exercise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from spec_decode_ros.decoding.adapters import ExitAdapters
from spec_decode_ros.decoding.derive import truncated_copy
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.models import LoadedModel, load_model

WORDS = ("go forward back left right turn stop walk the a to red blue green box ball door chair slowly quickly "
         "meters one two three four five degrees then and move robot see find near far of is what where "
         "yes no there here up down sit stand wait look around object table wall floor you are i am can").split()
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<|im_start|>", "<|im_end|>", "system", "user", "assistant",
            "<image>", "<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<fake_token_around_image>",
            "<global-img>", "<|video_pad|>", "<end_of_utterance>", ":", ".", ",", "\n"]
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|> {{ m['role'] }} : "
                 "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
                 "{% if c['type'] == 'image' %}{{ image_marker }}{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
                 "{% endif %} <|im_end|> {% endfor %}{% if add_generation_prompt %}<|im_start|> assistant :"
                 "{% endif %}")


def make_tokenizer(image_marker: str = "<image>") -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                  unk_token="<unk>", additional_special_tokens=SPECIALS[4:17])
    tok.chat_template = CHAT_TEMPLATE.replace("{{ image_marker }}", image_marker)
    return tok


def _llama_text(vocab: int, layers: int, hidden: int = 64, **kw: object) -> dict:
    return dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, pad_token_id=0,
                eos_token_id=1, bos_token_id=2, tie_word_embeddings=False, **kw)


# the vision tower of the Llava and Idefics3 builders: 32 px images in 8 px patches
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                   patch_size=8)


def _seeded_tokenizer(seed: int, image_marker: str = "<image>") -> PreTrainedTokenizerFast:
    """Seed torch (the model's random weights follow) and make the tokenizer."""
    torch.manual_seed(seed)
    return make_tokenizer(image_marker)


def _save(path: Path, model: torch.nn.Module, *parts: object) -> Path:
    """Spread the LM head (``_scale``) and save the model and its tokenizer/processor parts in ``path``."""
    _scale(model)
    model.save_pretrained(path)
    for part in parts:
        part.save_pretrained(path)  # type: ignore[attr-defined]
    return path


def build_llama(path: Path, layers: int = 4, seed: int = 0) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = _seeded_tokenizer(seed)
    return _save(path, LlamaForCausalLM(LlamaConfig(**_llama_text(len(tok), layers))), tok)


def build_llava(path: Path, layers: int = 4, seed: int = 0) -> Path:
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = _seeded_tokenizer(seed)
    cfg = LlavaConfig(vision_config=CLIPVisionConfig(**TINY_VISION, projection_dim=32), text_config=LlamaConfig(**_llama_text(len(tok), layers)),
                      image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
                      vision_feature_select_strategy="full")
    model = LlavaForConditionalGeneration(cfg)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=8, vision_feature_select_strategy="full",
                          num_additional_image_tokens=1, chat_template=tok.chat_template)
    return _save(path, model, proc)


def build_qwen2_vl(path: Path, layers: int = 4, seed: int = 0) -> Path:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor

    tok = _seeded_tokenizer(seed, "<|vision_start|> <|image_pad|> <|vision_end|>")
    text = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0},
                pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=False)
    vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=8,
                  spatial_merge_size=2, temporal_patch_size=2, in_channels=3)
    cfg = Qwen2VLConfig(text_config=text, vision_config=vision,
                        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
                        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
                        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"), tie_word_embeddings=False)
    model = Qwen2VLForConditionalGeneration(cfg)
    ip = Qwen2VLImageProcessor(min_pixels=32 * 32, max_pixels=48 * 48, patch_size=8, merge_size=2,
                               temporal_patch_size=2)
    # Qwen2VLProcessor cannot be built here (its video part needs torchvision): save its parts; load_model
    # rebuilds the processor from them, as it would from a real Qwen2-VL folder on such a machine
    _save(path, model, ip, tok)
    (path / "chat_template.jinja").write_text(tok.chat_template)
    return path


def build_idefics3(path: Path, layers: int = 4, seed: int = 0) -> Path:
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
        Idefics3VisionConfig,
        LlamaConfig,
    )

    tok = _seeded_tokenizer(seed)
    cfg = Idefics3Config(vision_config=Idefics3VisionConfig(**TINY_VISION), text_config=LlamaConfig(**_llama_text(len(tok), layers)),
                         image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=2,
                         tie_word_embeddings=False)
    model = Idefics3ForConditionalGeneration(cfg)
    ip = Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": 32},
                                max_image_size={"longest_edge": 32})
    proc = Idefics3Processor(image_processor=ip, tokenizer=tok, image_seq_len=4, chat_template=tok.chat_template)
    return _save(path, model, proc)


def _scale(model: torch.nn.Module) -> None:
    """Spread the LM head so greedy outputs of a random model vary instead of repeating one token."""
    with torch.no_grad():
        head = model.get_output_embeddings()
        head.weight.mul_(8.0)


BUILDERS = {"llama": build_llama, "llava": build_llava, "qwen2_vl": build_qwen2_vl, "idefics3": build_idefics3}


# --- what the tests use: a target with noisy exit adapters and its truncated-layer draft -------------
EXIT_LAYER = 2
SEEDS = {"llama": 0, "llava": 3, "idefics3": 1, "qwen2_vl": 3}  # non-degenerate greedy outputs; llava's ends in EOS
IMAGE = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)


def noisy_adapters(hidden: int, seed: int = 0, scale: float = 0.005) -> ExitAdapters:
    """Untrained exit adapters: identity plus noise, so the exit's verdicts both hit and miss."""
    torch.manual_seed(seed)
    adapters = ExitAdapters([EXIT_LAYER], hidden)
    with torch.no_grad():
        for p in adapters.parameters():
            p.add_(torch.randn_like(p) * scale)
    return adapters


def damp_late_layers(model: LoadedModel, factor: float = 0.3) -> None:
    """Weaken layers >= EXIT_LAYER of a random model so its early exit and truncated draft agree with it
    often but not always (a random model's last layers otherwise scramble everything)."""
    with torch.no_grad():
        for layer in model.layers[EXIT_LAYER:]:
            layer.self_attn.o_proj.weight.mul_(factor)
            layer.mlp.down_proj.weight.mul_(factor)


class Pair:
    def __init__(self, folder: Path, dtype: str = "float32") -> None:
        self.folder = folder
        self.model: LoadedModel = load_model(folder, dtype=dtype)
        damp_late_layers(self.model)
        self.draft: LoadedModel = truncated_copy(self.model, EXIT_LAYER)
        self.target = EarlyExitTarget(self.model, noisy_adapters(self.model.hidden_size))

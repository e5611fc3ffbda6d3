"""Load any HF causal LM or VLM (local folder, hub id through ``decoding.hub``, or GGUF) with its tokenizer and processor.

``LoadedModel`` bundles the model with what the engine needs around it: prompt encoding through
the model's own chat template and processor (batch of 1), decoding, EOS ids, and the text
decoder's parts (layers, final norm, LM head) that the early exit splits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoTokenizer, GenerationConfig

from spec_decode_ros.decoding.hub import locate_model
from spec_decode_ros.decoding.precision import resolve_device, resolve_dtype
from spec_decode_ros.decoding.types import Prompt

# processor outputs laid out like input_ids ([1, L]): sliced together with it
SEQUENCE_KEYS = ("attention_mask", "token_type_ids", "mm_token_type_ids")
DRAFT_VOCAB = "draft_vocab.json"
ATTENTION = "sdpa"  # PyTorch's scaled_dot_product_attention: fused kernels on CPU and GPU, any dtype


@dataclass
class EncodedPrompt:
    """A prompt as model inputs: ``input_ids`` [1, L] plus the processor's other outputs (pixels, masks...)."""

    input_ids: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])

    def prefix(self, length: int) -> dict[str, torch.Tensor]:
        """Model kwargs for the first ``length`` tokens (image inputs kept whole)."""
        out = {"input_ids": self.input_ids[:, :length]}
        for key, value in self.extras.items():
            out[key] = value[:, :length] if key in SEQUENCE_KEYS else value
        return out

    def inputs(self) -> dict[str, torch.Tensor]:
        return self.prefix(self.length)

    def batch_key(self) -> tuple[object, ...]:
        """Prompts with equal keys can be prefilled in one forward: the same model inputs, and image inputs
        whose shapes agree beyond the first (batch) dimension, so that concatenating them in row order is what
        the model expects (Llava, Qwen2-VL or Idefics3 image rows together; text rows together)."""
        return tuple(sorted((k, None if k in SEQUENCE_KEYS else tuple(v.shape[1:]), str(v.dtype))
                            for k, v in self.extras.items()))


@dataclass
class LoadedModel:
    """A model, its tokenizer and (VLMs) its processor; ``name`` is the path or hub id it came from."""

    model: transformers.PreTrainedModel
    tokenizer: transformers.PreTrainedTokenizerBase
    processor: transformers.ProcessorMixin | None
    is_vlm: bool
    name: str
    eos_token_ids: frozenset[int]
    # as a draft: predict only these token ids (a pruned LM head, far cheaper than the full vocabulary;
    # lossless all the same, since the target verifies). From ``draft_vocab.json`` beside the model.
    draft_vocab: tuple[int, ...] | None = None

    def encode(self, prompt: Prompt) -> EncodedPrompt:
        """Chat template (if the model has one) + tokenizer or processor; a batch of one."""
        if not isinstance(prompt, Prompt):
            raise TypeError(f"encode() needs a Prompt, got {type(prompt).__name__}")
        if prompt.image is not None and not self.is_vlm:
            raise ValueError(f"{self.name} is a text model: a Prompt with an image needs a VLM")
        text, templated = self._render(prompt)
        device = self.model.device
        if self.is_vlm and self.processor is not None:
            kwargs: dict[str, object] = {"text": [text], "return_tensors": "pt"}
            if prompt.image is not None:
                kwargs["images"] = [_to_pil(prompt.image)]
            enc = dict(self.processor(**kwargs))
        else:
            enc = dict(self.tokenizer(text, return_tensors="pt", add_special_tokens=not templated))
        ids = enc.pop("input_ids").to(device)
        extras = {k: v.to(device) for k, v in enc.items() if isinstance(v, torch.Tensor)}
        if "pixel_values" in extras:
            extras["pixel_values"] = extras["pixel_values"].to(self.model.dtype)
        return EncodedPrompt(ids, extras)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def _render(self, prompt: Prompt) -> tuple[str, bool]:
        owner = self.processor if (self.is_vlm and self.processor is not None) else self.tokenizer
        template = getattr(owner, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        if template:
            messages: list[dict[str, object]] = []
            if prompt.system:
                messages.append({"role": "system", "content": prompt.system})
            if self.is_vlm:
                content: list[dict[str, str]] = [{"type": "image"}] if prompt.image is not None else []
                content.append({"type": "text", "text": prompt.text})
                messages.append({"role": "user", "content": content})
            else:
                messages.append({"role": "user", "content": prompt.text})
            text = owner.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                             chat_template=template)
            return str(text), True
        parts = [prompt.system] if prompt.system else []
        if prompt.image is not None:
            parts.append(str(getattr(self.processor, "image_token", "<image>")))
        parts.append(prompt.text)
        return "\n".join(parts), False

    # --- the text decoder's parts, as the early exit needs them -------------------------------------
    @property
    def decoder(self) -> torch.nn.Module:
        return text_decoder(self.model)

    @property
    def layers(self) -> torch.nn.ModuleList:
        return self.decoder.layers

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.get_text_config().hidden_size)

    @property
    def vocab_size(self) -> int:
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def context_length(self) -> int:
        """Positions the text decoder was built for (prompt + generated tokens must fit)."""
        return int(getattr(self.model.config.get_text_config(), "max_position_embeddings", 0) or 2**31 - 1)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The model's own final norm + LM head: hidden [..., H] -> logits [..., V] (float32)."""
        return self.model.get_output_embeddings()(self.decoder.norm(hidden)).float()


def text_decoder(model: torch.nn.Module) -> torch.nn.Module:
    """The language model inside a causal LM or VLM (the module with ``layers`` and ``norm``)."""
    dec = model.get_decoder() if hasattr(model, "get_decoder") else model
    for _ in range(3):
        if hasattr(dec, "layers") and hasattr(dec, "norm"):
            return dec
        inner = getattr(dec, "language_model", None) or getattr(dec, "text_model", None) or getattr(dec, "model", None)
        if inner is None:
            break
        dec = inner
    raise TypeError(f"cannot find decoder layers + final norm in {type(model).__name__}")


def load_model(name_or_path: str | Path, *, gguf_file: str | None = None,
               dtype: str | torch.dtype = "float32", device: str | torch.device = "cpu") -> LoadedModel:
    """Load a causal LM or VLM with its tokenizer (and processor for VLMs), in eval mode, on ``device`` in
    ``dtype`` (names as in ``decoding.precision``: ``auto`` picks them for the machine), attention via SDPA."""
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    name = str(name_or_path)
    if Path(name).expanduser().exists():
        name = str(Path(name).expanduser())
    elif name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model path {name} does not exist")
    elif not gguf_file:  # a Hugging Face model id: its cached snapshot (downloaded first when online)
        name = str(locate_model(name))
    kw: dict[str, object] = {"gguf_file": gguf_file} if gguf_file else {}
    config = AutoConfig.from_pretrained(name, **kw)
    is_vlm = getattr(config, "vision_config", None) is not None
    weights: dict[str, object] = {"dtype": torch_dtype, "attn_implementation": ATTENTION, **kw}
    if is_vlm:
        model = transformers.AutoModelForImageTextToText.from_pretrained(name, **weights)
        processor = _load_processor(name, config)
        tokenizer = processor.tokenizer
    else:
        model = transformers.AutoModelForCausalLM.from_pretrained(name, **weights)
        processor = None
        tokenizer = AutoTokenizer.from_pretrained(name, **kw)
    model.to(dev).eval()
    eos: set[int] = set()
    for src in (model.generation_config, model.config.get_text_config(), tokenizer):
        value = getattr(src, "eos_token_id", None)
        eos.update([value] if isinstance(value, int) else (value or []))
    if not eos:
        raise ValueError(f"{name}: no eos_token_id in its generation config, config or tokenizer")
    vocab_file = Path(name) / DRAFT_VOCAB
    vocab = tuple(int(t) for t in json.loads(vocab_file.read_text())["token_ids"]) if vocab_file.is_file() else None
    return LoadedModel(model, tokenizer, processor, is_vlm, name, frozenset(eos), vocab)


def _load_processor(name: str, config: transformers.PretrainedConfig) -> transformers.ProcessorMixin:
    """AutoProcessor, or (processors whose video part needs torchvision, e.g. Qwen2-VL, when it is not
    installed) the same processor class built from its image processor and tokenizer, with no video."""
    try:
        return transformers.AutoProcessor.from_pretrained(name)
    except (ImportError, ValueError, AttributeError, TypeError) as err:
        from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

        cls_name = PROCESSOR_MAPPING_NAMES.get(config.model_type)
        cls = getattr(transformers, cls_name, None) if isinstance(cls_name, str) else None
        if cls is None or "video_processor" not in cls.get_attributes():
            raise
        image_processor = transformers.AutoImageProcessor.from_pretrained(name)
        tokenizer = AutoTokenizer.from_pretrained(name)
        no_video = type(f"{cls.__name__}NoVideo", (cls,), {
            "get_attributes": classmethod(lambda c: ["image_processor", "tokenizer"]),
            "check_argument_for_proper_class": lambda self, n, a: type(a),
        })
        template = _chat_template(Path(name)) or getattr(tokenizer, "chat_template", None)
        proc = no_video(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)
        proc.video_processor = None
        if proc is None:
            raise RuntimeError(f"cannot build a processor for {name}") from err
        return proc


def _chat_template(folder: Path) -> str | None:
    if (folder / "chat_template.jinja").exists():
        return (folder / "chat_template.jinja").read_text()
    if (folder / "chat_template.json").exists():
        return json.loads((folder / "chat_template.json").read_text()).get("chat_template")
    return None


def _to_pil(image: np.ndarray) -> object:
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"Prompt.image must be an H×W×3 uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}")
    return Image.fromarray(arr)


def reference_generation_config(model: LoadedModel, max_new_tokens: int) -> GenerationConfig:
    """Plain greedy decoding, none of the model's own sampling defaults (the reference for losslessness)."""
    pad = model.tokenizer.pad_token_id
    eos = sorted(model.eos_token_ids)
    return GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=eos,
                            pad_token_id=pad if pad is not None else eos[0])


def reset_rope_deltas(model: torch.nn.Module) -> None:
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "rope_deltas"):
        inner.rope_deltas = None


def rope_delta(model: torch.nn.Module) -> int:
    """Qwen2-VL's M-RoPE offset (text positions after an image run ahead of/behind the token count)."""
    inner = getattr(model, "model", None)
    deltas = getattr(inner, "rope_deltas", None)
    return int(deltas.reshape(-1)[0]) if isinstance(deltas, torch.Tensor) else 0


def rope_deltas(model: torch.nn.Module, rows: int) -> list[int]:
    """``rope_delta`` of each row of the last batched forward (one shared value broadcast; 0 without M-RoPE)."""
    inner = getattr(model, "model", None)
    deltas = getattr(inner, "rope_deltas", None)
    if not isinstance(deltas, torch.Tensor):
        return [0] * rows
    flat = deltas.reshape(-1).tolist()
    return [int(d) for d in (flat * rows if len(flat) == 1 else flat)]

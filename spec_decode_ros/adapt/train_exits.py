"""``spec-decode train-adapters``: train early-exit adapters on a frozen target, on the target's own answers.

On camera frames (a VLM): ``--from-bag BAG`` (frames and instructions the robot recorded) or ``--images DIR
--instructions FILE``; the target answers each frame greedily, as the robot decodes, and the exits learn its
final layer over those answers' positions (images in the sequence, as at verification). Without frames: text
the target generates from chat prompts (``--prompts`` or built-in ones). 80 % of the frames (prompts) train,
20 % are held out; the report (one line per exit, ``--json`` for all of it) is the exits' top-1 agreement with
the final layer on the held-out ones. Adapters are saved beside the model, or into ``--out DIR``, which then
links the model's files too, so that ``spec-decode cloud --model DIR`` serves the model with its exits.
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
from spec_decode_ros.decoding.adapter_training import train_and_save
from spec_decode_ros.decoding.corpus import DEFAULT_PROMPTS, answer_corpus, generate_corpus
from spec_decode_ros.decoding.hub import locate_model
from spec_decode_ros.decoding.models import LoadedModel, load_model
from spec_decode_ros.decoding.types import Prompt
from spec_decode_ros.paths import portable_path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spec-decode train-adapters", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model folder or Hugging Face id (adapters are saved into its folder unless --out)")
    ap.add_argument("--layers", default="", help="comma-separated exit layers (default: L/2)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=2e-3)
    frames.add_arguments(ap, required=False)
    ap.add_argument("--prompts", type=Path, help="without frames: text file, one prompt a line (default: built-in chat "
                                                 "prompts)")
    ap.add_argument("--new-tokens", type=int, default=64, help="tokens the target generates per prompt or frame")
    ap.add_argument("--gguf-file", default=None)
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for exit_adapters.* (default: the model's); it links the model's files as well")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json", type=Path, default=None, help="write the agreement report here")
    precision.add_arguments(ap)
    return ap


def training_corpus(model: LoadedModel, found: list[frames.Frame] | None,
                    args: argparse.Namespace) -> tuple[list, dict[str, object]]:
    """The target's own answers to the frames (or text from prompts) and what the report says about them."""
    if found is not None:
        if not model.is_vlm:
            raise ValueError(f"{model.name} is a text model: train it on --prompts, not on camera frames")
        corpus = answer_corpus(model, list(frames.iter_prompts(found, args.system_prompt)), new_tokens=args.new_tokens)
        return corpus, {"source": portable_path(args.from_bag or args.images), "frames": len(found)}
    prompts = DEFAULT_PROMPTS
    if args.prompts:
        prompts = tuple(line.strip() for line in args.prompts.read_text().splitlines() if line.strip())
    if args.system_prompt:
        corpus = answer_corpus(model, [Prompt(text, None, args.system_prompt) for text in prompts],
                               new_tokens=args.new_tokens)
    else:
        corpus = generate_corpus(model, prompts, new_tokens=args.new_tokens)
    return corpus, {"source": "text", "prompts": len(prompts)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    try:  # the frames first: a bad option or bag costs no model load
        found = frames.from_arguments(args)
        folder = Path(args.model) if args.gguf_file else locate_model(args.model, "target")
        model = load_model(folder, gguf_file=args.gguf_file, dtype=args.dtype, device=args.device)
        layers = [int(x) for x in args.layers.split(",") if x.strip()] or [model.num_layers // 2]
        if args.out is not None and not args.gguf_file:
            folders.link_model(folder, args.out)
        corpus, source = training_corpus(model, found, args)
    except (ValueError, FileNotFoundError) as err:
        print(f"spec-decode train-adapters: {err}", file=sys.stderr)
        return 2
    out = args.out or folder
    report = train_and_save(model, layers, corpus, out, steps=args.steps, lr=args.lr)
    report.update(source, seconds=time.perf_counter() - t0, dtype=str(model.model.dtype).removeprefix("torch."),
                  device=str(model.model.device), steps=args.steps, new_tokens=args.new_tokens)
    before, after = report["agreement_identity"], report["agreement_trained"]
    held = f"{report['heldout_sequences']} held-out {'frames' if 'frames' in source else 'prompts'}"
    for ell in layers:
        print(f"exit {ell}/{model.num_layers}: top-1 agreement with the final layer on {held} "
              f"{before[ell]:.3f} (no adapter) -> {after[ell]:.3f} (trained)")
    print(f"saved {out / 'exit_adapters.safetensors'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``spec-decode train``: rebuild the embedded target VLM, its exit adapters and the draft VLM, on CPU.

Stages (each seeded; data rendered fresh by simulator worker processes while training runs):

1. tokenizer: word-level, from the grammar's answer vocabulary and the expert's instruction templates;
2. target: ``TARGET_SPEC`` Llava trained from scratch on expert answers (answer tokens only), stopping
   early once held-out exact match reaches ``--stop-accuracy``;
3. exit adapters: the engine's adapter training on the frozen target (exit layer in the middle);
4. draft: ``DRAFT_SPEC`` Llava distilled from the target (its logits and argmax on answer tokens).

Writes ``<out>/go2-vlm-target/`` (model, processor, tokenizer, adapters, ``training.json``) and
``<out>/go2-vlm-draft/``; ``--out`` defaults to the package's shipped assets folder.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import torch

from spec_decode_ros.embedded import ASSETS_DIR, DRAFT_NAME, TARGET_NAME
from spec_decode_ros.embedded.architecture import (
    DRAFT_SPEC,
    TARGET_SPEC,
    SetupError,
    VLMSpec,
    build_model,
    build_processor,
)
from spec_decode_ros.embedded.data import StreamPrefetcher, take_examples
from spec_decode_ros.embedded.inference import greedy_answers
from spec_decode_ros.embedded.tokenizer import default_tokenizer
from spec_decode_ros.embedded.trainer import TrainConfig, TrainReport, train
from spec_decode_ros.paths import portable_path

VAL_SPLIT = "heldout"  # held-out layouts (odd layout seeds); eval uses the same split with other stream seeds
TRAIN_SPLIT = "train"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spec-decode train", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ASSETS_DIR, help="folder for go2-vlm-target/ and go2-vlm-draft/")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-steps", type=int, default=1000)
    p.add_argument("--draft-steps", type=int, default=400)
    p.add_argument("--adapter-steps", type=int, default=1000)
    p.add_argument("--adapter-examples", type=int, default=2048, help="simulator examples for the exit adapters")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--new-per-step", type=int, default=16, help="fresh simulator examples joining the pool per step")
    p.add_argument("--warm-pool", type=int, default=1024, help="examples rendered before a stage's first step")
    p.add_argument("--workers", type=int, default=1, help="simulator worker processes")
    p.add_argument("--object-map-weight", type=float, default=0.5,
                   help="weight of the auxiliary which-landmark-is-in-each-patch loss (0: off)")
    p.add_argument("--clear-keep", type=_share, default=1.0,
                   help="target stage: share of states clear of the expert's thresholds kept in its stream "
                        "(below 1: more of the threshold states where it errs; validation keeps the natural mix)")
    p.add_argument("--heldout", type=int, default=256, help="validation examples for early stopping")
    p.add_argument("--stop-accuracy", type=float, default=0.985, help="stop a stage at this held-out exact match")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)")
    p.add_argument("--target-spec", type=_spec_overrides, default={}, metavar="K=V,...",
                   help="override target sizes, e.g. patch_size=12,vision_hidden=192 (fields of VLMSpec)")
    p.add_argument("--draft-spec", type=_spec_overrides, default={}, metavar="K=V,...",
                   help="override draft sizes (image_size follows the target's; another one is an error)")
    p.add_argument("--init-target", type=Path, default=None, metavar="FOLDER",
                   help="target stage: continue from this saved target (fresh data, a new LR schedule) instead of "
                        "a random init; its training history is kept in training.json. With --target-spec image_size=N it "
                        "continues at N px (vision positions resampled, see embedded.resize)")
    p.add_argument("--stages", default="target,adapters,draft",
                   help="comma-separated subset of target,adapters,draft (later stages load earlier ones from --out)")
    return p


def _spec_overrides(text: str) -> dict[str, int]:
    """``"patch_size=12,vision_hidden=192"`` -> {"patch_size": 12, "vision_hidden": 192}; unknown fields rejected."""
    known = {f.name for f in fields(VLMSpec)}
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise argparse.ArgumentTypeError(f"{item!r}: expected K=V with K one of {', '.join(sorted(known))}")
        try:
            out[key] = int(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{item!r}: {value!r} is not an integer") from exc
    return out


def _share(text: str) -> float:
    """A share in (0, 1], for --clear-keep."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in (0, 1]")
    return value


def target_spec(args: argparse.Namespace) -> VLMSpec:
    return replace(TARGET_SPEC, **args.target_spec)


def draft_spec(args: argparse.Namespace, target_image_size: int) -> VLMSpec:
    """The draft's sizes: DRAFT_SPEC with --draft-spec overrides, at the target's image size unless told."""
    return replace(DRAFT_SPEC, **{"image_size": target_image_size, **args.draft_spec})


def _config(args: argparse.Namespace, steps: int, seed: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=args.batch_size, lr=args.lr, new_per_step=args.new_per_step,
                       warm_pool=args.warm_pool, object_map_weight=args.object_map_weight,
                       eval_every=args.eval_every, stop_accuracy=args.stop_accuracy, seed=seed,
                       warmup_steps=min(100, max(1, steps // 10)))


def _stream(args: argparse.Namespace, spec: VLMSpec, stage: int, clear_keep: float = 1.0) -> StreamPrefetcher:
    seeds = [args.seed * 1000 + stage * 100 + i for i in range(args.workers)]
    return StreamPrefetcher(seeds, split=TRAIN_SPLIT, image_size=spec.image_size,
                            object_maps=args.object_map_weight > 0, clear_keep=clear_keep)


def _options(args: argparse.Namespace, *names: str) -> dict[str, object]:
    """The options a stage ran with, for training.json (what the recipe needs to repeat it); paths relative to
    the repository or the output folder (``paths.portable_path``)."""
    return {name: portable_path(v, args.out) if isinstance(v := getattr(args, name), Path) else v for name in names}


def _save(model: torch.nn.Module, processor: object, folder: Path, spec: VLMSpec, report: TrainReport,
          extra: dict[str, object]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    meta = {"spec": spec.as_dict(), "report": asdict(report), **extra}
    (folder / "training.json").write_text(json.dumps(meta, indent=1) + "\n")


def _continued(folder: Path) -> tuple[torch.nn.Module, object, VLMSpec, list[dict[str, object]]]:
    """A saved target to train further: model, processor, its sizes and the runs that made it."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    saved = folder / "training.json"
    meta = json.loads(saved.read_text()) if saved.is_file() else {}
    if meta.get("stage") != "target":
        raise SetupError(f"{folder} is not a target saved by spec-decode train")
    model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    runs = [*meta.get("previous_runs", []), {k: meta[k] for k in ("report", "seed", "options") if k in meta}]
    return model, AutoProcessor.from_pretrained(folder), VLMSpec(**meta["spec"]), runs


def train_target(args: argparse.Namespace, folder: Path) -> TrainReport:
    extra: dict[str, object] = {"seed": args.seed, "stage": "target",
                                "options": _options(args, "target_steps", "batch_size", "lr", "new_per_step",
                                                    "clear_keep", "init_target")}
    if args.init_target is not None:
        model, processor, spec, runs = _continued(args.init_target)
        extra["previous_runs"] = runs
        if args.target_spec.get("image_size", spec.image_size) != spec.image_size:
            from spec_decode_ros.embedded.resize import resized_target

            extra["resized_from_image_size"] = spec.image_size
            model, processor, spec = resized_target(model, processor, spec, args.target_spec["image_size"])
        stage = 1 + len(runs) * 10  # other simulator streams than the runs before
    else:
        spec = target_spec(args)
        tokenizer = default_tokenizer()
        model = build_model(spec, tokenizer, seed=args.seed)
        processor = build_processor(spec, tokenizer)
        stage = 1
    heldout = take_examples(args.seed + 1, VAL_SPLIT, args.heldout, spec.image_size)
    with _stream(args, spec, stage=stage, clear_keep=args.clear_keep) as stream:
        report = train(model, processor, stream, heldout, _config(args, args.target_steps, args.seed), desc="target",
                       on_eval=lambda rep: _save(model, processor, folder, spec, rep, extra))
    _save(model, processor, folder, spec, report, extra)
    return report


def train_draft(args: argparse.Namespace, target_folder: Path, folder: Path) -> TrainReport:
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    teacher = LlavaForConditionalGeneration.from_pretrained(target_folder, dtype=torch.float32).eval()
    teacher_processor = AutoProcessor.from_pretrained(target_folder)
    tokenizer = teacher_processor.tokenizer
    teacher_size = int(teacher.config.vision_config.image_size)
    spec = draft_spec(args, teacher_size)
    if spec.image_size != teacher_size:
        raise SetupError(f"draft image size {spec.image_size} != target's {teacher_size} "
                         "(one simulator stream feeds both)")
    model = build_model(spec, tokenizer, seed=args.seed + 7)
    processor = build_processor(spec, tokenizer)
    heldout = take_examples(args.seed + 2, VAL_SPLIT, args.heldout, spec.image_size)
    labels = greedy_answers(teacher, teacher_processor, [e.image for e in heldout], [e.instruction for e in heldout])
    extra = {"seed": args.seed, "stage": "draft", "teacher": TARGET_NAME,
             "options": _options(args, "draft_steps", "batch_size", "lr", "new_per_step")}
    with _stream(args, spec, stage=3) as stream:
        report = train(model, processor, stream, heldout, _config(args, args.draft_steps, args.seed + 7),
                       distill_from=(teacher, teacher_processor), desc="draft", heldout_labels=labels,
                       on_eval=lambda rep: _save(model, processor, folder, spec, rep, extra))
    _save(model, processor, folder, spec, report, extra)
    return report


def train_adapters(args: argparse.Namespace, target_folder: Path) -> dict[str, object]:
    from spec_decode_ros.embedded.exits import train_exit_adapters

    return train_exit_adapters(target_folder, steps=args.adapter_steps, seed=args.seed,
                               stream_seeds=[args.seed * 1000 + 200 + i for i in range(args.workers)],
                               batch_size=args.batch_size, train_examples=args.adapter_examples,
                               heldout_examples=args.heldout)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - {"target", "adapters", "draft"})
    if unknown:
        print(f"spec-decode train: unknown stage(s) {unknown}; use target, adapters, draft", file=sys.stderr)
        return 2
    if args.init_target is not None and set(args.target_spec) - {"image_size"}:
        print("spec-decode train: with --init-target, --target-spec may only change image_size "
              "(the saved target's other sizes are its own)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: simulator workers are stopped, not orphaned
    torch.set_num_threads(args.threads)
    try:
        return _run_stages(args, stages)
    except SetupError as err:  # a folder that is not a saved target, sizes that do not fit; other errors are bugs
        print(f"spec-decode train: {err}", file=sys.stderr)
        return 2


def _run_stages(args: argparse.Namespace, stages: list[str]) -> int:
    target_folder, draft_folder = args.out / TARGET_NAME, args.out / DRAFT_NAME
    summary: dict[str, object] = {}
    t0 = time.perf_counter()
    if "target" in stages:
        rep = train_target(args, target_folder)
        summary["target"] = {"steps": rep.steps, "seconds": round(rep.seconds, 1), "val_exact_match": rep.heldout_accuracy}
    if not (target_folder / "config.json").exists():
        print(f"spec-decode train: no target in {target_folder}; run the target stage first", file=sys.stderr)
        return 1
    if "adapters" in stages:
        summary["adapters"] = train_adapters(args, target_folder)
    if "draft" in stages:
        rep = train_draft(args, target_folder, draft_folder)
        summary["draft"] = {"steps": rep.steps, "seconds": round(rep.seconds, 1),
                            "val_agreement_with_target": rep.heldout_accuracy}
    summary["total_seconds"] = round(time.perf_counter() - t0, 1)
    if "adapters" in stages:
        (target_folder / "exit_adapters_training.json").write_text(json.dumps(summary["adapters"], indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training loops of the embedded pair: the target on expert answers, the draft distilled from the target.

Both loops draw each batch from a ``ReplayPool`` that ``new_per_step`` freshly rendered examples
join at every step (so data never repeats for long), use AdamW with linear warm-up and cosine
decay, and measure greedy exact-match accuracy on a held-out set every ``eval_every`` steps,
stopping early once it reaches ``stop_accuracy`` (a deterministic rule: runs stay reproducible).

* target: cross-entropy on the answer tokens and EOS only (``labels`` from ``training_batch``);
* draft: KL(target ‖ draft) on the same answer positions plus cross-entropy on the target's
  argmax there, i.e. the draft learns what the target would say, not what the expert said.

With ``object_map_weight > 0`` both add the ``ObjectMapProbe`` loss (which landmark each image patch
shows, from the simulator's exact object maps) to make the vision features learn colour and shape fast.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import BatchFeature, PreTrainedModel, ProcessorMixin

from spec_decode_ros.embedded.batching import IGNORE_INDEX, Example, training_batch
from spec_decode_ros.embedded.data import ReplayPool, StreamPrefetcher
from spec_decode_ros.embedded.inference import exact_match
from spec_decode_ros.embedded.object_maps import ObjectMapProbe


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    batch_size: int = 64
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    new_per_step: int = 16  # fresh examples joining the pool per step
    pool_capacity: int = 16384
    warm_pool: int = 1024  # examples rendered before the first step
    eval_every: int = 250
    stop_accuracy: float | None = 0.985  # stop once held-out exact match reaches this
    object_map_weight: float = 0.0  # weight of the auxiliary object-map loss (0: off; examples need object maps)
    seed: int = 0


@dataclass
class TrainReport:
    steps: int = 0
    seconds: float = 0.0
    examples_seen: int = 0
    fresh_examples: int = 0
    final_loss: float = float("nan")
    heldout_accuracy: float = 0.0
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (step, loss, accuracy)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def answer_logits(model: PreTrainedModel, batch: BatchFeature) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits predicting each answer token, and those tokens: ([N, V], [N]) over the whole batch."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                pixel_values=batch["pixel_values"])
    logits = out.logits[:, :-1]  # [B, T-1, V]: position t predicts token t+1
    targets = batch["labels"][:, 1:]  # [B, T-1]
    keep = targets != IGNORE_INDEX
    return logits[keep], targets[keep]


def target_loss(model: PreTrainedModel, batch: BatchFeature) -> torch.Tensor:
    logits, targets = answer_logits(model, batch)
    return F.cross_entropy(logits.float(), targets)


def make_distill_loss(teacher: PreTrainedModel, teacher_processor: ProcessorMixin,
                      ) -> Callable[[PreTrainedModel, BatchFeature, Sequence[Example]], torch.Tensor]:
    """KL(teacher ‖ student) + CE(teacher argmax) on the answer tokens; teacher and student share the tokenizer."""
    teacher.eval()

    def loss(student: PreTrainedModel, batch: BatchFeature, examples: Sequence[Example]) -> torch.Tensor:
        with torch.no_grad():
            t_logits, t_targets = answer_logits(teacher, training_batch(teacher_processor, examples))  # [N, V]
        s_logits, s_targets = answer_logits(student, batch)  # [N, V]; same answer tokens, maybe other prompts
        if not torch.equal(t_targets, s_targets):
            raise RuntimeError("draft and target answer tokens differ: do they share the tokenizer?")
        kl = F.kl_div(F.log_softmax(s_logits, -1), F.log_softmax(t_logits, -1), log_target=True, reduction="batchmean")
        return kl + F.cross_entropy(s_logits, t_logits.argmax(-1))

    return loss


def train(model: PreTrainedModel, processor: ProcessorMixin, stream: StreamPrefetcher, heldout: Sequence[Example],
          cfg: TrainConfig, *, distill_from: tuple[PreTrainedModel, ProcessorMixin] | None = None,
          desc: str = "train", heldout_labels: Sequence[str] | None = None,
          on_eval: Callable[[TrainReport], None] | None = None) -> TrainReport:
    """Train ``model`` in place (target: expert answers; draft: ``distill_from`` = (teacher, its processor)).

    ``heldout_labels`` replaces the expert answers as the accuracy reference (a draft is measured
    against its teacher's answers). ``on_eval(report)`` runs after every held-out measurement
    (e.g. to save a checkpoint).
    """
    torch.manual_seed(cfg.seed)
    reference = list(heldout_labels) if heldout_labels is not None else [e.answer for e in heldout]
    eval_set = [Example(e.image, e.instruction, a) for e, a in zip(heldout, reference, strict=True)]
    distill = make_distill_loss(*distill_from) if distill_from is not None else None
    probe = ObjectMapProbe(model) if cfg.object_map_weight > 0 else None
    params = list(model.named_parameters()) + (list(probe.named_parameters()) if probe is not None else [])
    decay = [p for n, p in params if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in params if p.ndim < 2 or "embed" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    pool = ReplayPool(cfg.pool_capacity, seed=cfg.seed)
    pool.add(stream.take(cfg.warm_pool))
    report = TrainReport(fresh_examples=cfg.warm_pool)
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(cfg.steps), desc=desc, unit="step", dynamic_ncols=True)
    smooth: float | None = None
    for step in bar:
        pool.add(stream.take(cfg.new_per_step))
        report.fresh_examples += cfg.new_per_step
        examples = pool.sample(cfg.batch_size)
        batch = training_batch(processor, examples)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = distill(model, batch, examples) if distill is not None else target_loss(model, batch)
        if probe is not None:
            loss = loss + cfg.object_map_weight * probe.loss(examples)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        value = float(loss.detach())
        smooth = value if smooth is None else 0.95 * smooth + 0.05 * value
        report.steps = step + 1
        report.examples_seen += cfg.batch_size
        report.final_loss = smooth
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.eval_every == 0 or last:
            acc, _ = exact_match(model, processor, eval_set)
            report.heldout_accuracy = acc
            report.history.append((step + 1, smooth, acc))
            bar.write(f"[{desc}] step {step + 1}: loss {smooth:.4f}  held-out exact match {acc:.3f}")
            report.seconds = time.perf_counter() - start
            if on_eval is not None:
                on_eval(report)
            if cfg.stop_accuracy is not None and acc >= cfg.stop_accuracy:
                break
        bar.set_postfix(loss=f"{smooth:.4f}", acc=f"{report.heldout_accuracy:.3f}", lr=f"{lr_at(step, cfg):.1e}")
    bar.close()
    if probe is not None:
        probe.close()
    model.eval()
    report.seconds = time.perf_counter() - start
    return report

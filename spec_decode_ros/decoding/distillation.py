"""Distillation from a frozen target: one teacher pass over a corpus, then cheap student steps.

``teacher_targets`` runs the target once over every sequence (token ids, or a ``corpus.Sample`` with its
image inputs) and keeps, per position, its top-k next-token log-probabilities (renormalised over the k) and
the hidden states after chosen layers; for a ``Sample``, only the positions that predict its answer.
Exit adapters (``adapter_training``) and a derived draft (``distill_draft``) both learn from these by
KL(teacher ‖ student) restricted to the teacher's top-k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from spec_decode_ros.decoding.corpus import Sample, as_sample
from spec_decode_ros.decoding.models import LoadedModel, reset_rope_deltas


@dataclass
class TeacherTargets:
    sequences: list[torch.Tensor]  # [T_i] token ids
    top_ids: list[torch.Tensor]  # [N_i, k] teacher's top-k next tokens at each kept position (best first)
    top_logp: list[torch.Tensor]  # [N_i, k] their log-probs, renormalised over the k
    hidden: dict[int, list[torch.Tensor]] = field(default_factory=dict)  # exit layer ℓ -> [N_i, H] after layer ℓ-1
    # the model inputs of each sequence and its first kept position (empty: text, every position kept)
    samples: list[Sample] = field(default_factory=list)

    def sample(self, i: int) -> Sample:
        return self.samples[i] if self.samples else Sample(self.sequences[i])

    @property
    def num_positions(self) -> int:
        return sum(len(ids) for ids in self.top_ids)

    def positions(self, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All positions stacked: hidden [N, H], top_ids [N, k], top_logp [N, k]."""
        return torch.cat(self.hidden[layer]), torch.cat(self.top_ids), torch.cat(self.top_logp)


@torch.no_grad()
def teacher_targets(model: LoadedModel, corpus: Sequence[torch.Tensor | Sample], *, layers: Sequence[int] = (),
                    k: int = 32, progress: bool = True, desc: str = "teacher pass") -> TeacherTargets:
    """One forward per sequence (no padding effects): top-k targets and hidden states after ``layers``."""
    k = min(k, model.vocab_size)
    captured: dict[int, torch.Tensor] = {}

    def make_hook(ell: int):
        def hook(module: torch.nn.Module, args: object, output: object) -> None:
            captured[ell] = (output[0] if isinstance(output, tuple) else output)[0].float().cpu()
        return hook

    handles = [model.layers[ell - 1].register_forward_hook(make_hook(ell)) for ell in layers]
    out = TeacherTargets([], [], [], {ell: [] for ell in layers})
    try:
        for item in tqdm(corpus, desc=desc, disable=not progress):
            sample = as_sample(item)
            first = sample.first_kept
            logits = _forward_logits(model, sample).float().cpu()  # [N, V]
            vals, ids = torch.topk(logits, k, dim=-1)
            out.sequences.append(sample.ids)
            out.samples.append(sample)
            out.top_ids.append(ids)
            out.top_logp.append(torch.log_softmax(vals, dim=-1))
            for ell in layers:
                out.hidden[ell].append(captured[ell][first:])
    finally:
        for h in handles:
            h.remove()
    return out


def _forward_logits(model: LoadedModel, sample: Sample) -> torch.Tensor:
    """Logits [N, V] at the kept positions of one teacher-forced sequence with its image inputs (the LM head runs
    on those alone: a VLM's image tokens would cost [T, V] more); grad follows the caller's mode."""
    reset_rope_deltas(model.model)  # Qwen2-VL: positions from this sequence's image, not the last one's
    kept = len(sample) - sample.first_kept
    logits = model.model(**sample.inputs(model.model.device), use_cache=False, logits_to_keep=kept).logits[0]
    return logits[-kept:]


def one_cycle(opt: torch.optim.Optimizer, lr: float, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule of both distillations: a short warm-up to ``lr`` and a cosine decay (one cycle);
    a constant ``lr`` for runs too short to have both phases."""
    if steps < 4:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.1, 2.0 / steps))


def sparse_kl(student_logits: torch.Tensor, top_ids: torch.Tensor, top_logp: torch.Tensor) -> torch.Tensor:
    """Mean KL(teacher ‖ student) over N positions, the teacher given by its top-k; logits [N, V], ids/logp [N, k]."""
    top_ids, top_logp = top_ids.to(student_logits.device), top_logp.to(student_logits.device)
    s = torch.log_softmax(student_logits.float(), dim=-1).gather(-1, top_ids)
    return (top_logp.exp() * (top_logp - s)).sum(-1).mean()


def top1_agreement(student_logits: torch.Tensor, top_ids: torch.Tensor) -> float:
    return float((student_logits.argmax(-1).cpu() == top_ids[:, 0].cpu()).float().mean())


def distill_draft(draft: LoadedModel, targets: TeacherTargets, *, steps: int = 200, lr: float = 3e-4,
                  batch_size: int = 4, seed: int = 0, progress: bool = True) -> list[float]:
    """Train the draft's decoder layers (embeddings, final norm and head frozen, shared with the target)
    toward the teacher's next-token distributions. Returns the loss per step."""
    if not targets.sequences:
        raise ValueError("distill_draft needs teacher targets for at least one sequence")
    torch.manual_seed(seed)
    model = draft.model
    model.requires_grad_(False)
    trainable = [p for p in draft.layers.parameters()]
    for p in trainable:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    sched = one_cycle(opt, lr, steps)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    bar = tqdm(range(steps), desc="distil draft", disable=not progress)
    for _ in bar:
        picks = torch.randint(len(targets.sequences), (batch_size,), generator=gen).tolist()
        loss = torch.zeros((), device=model.device)
        for i in picks:  # one sequence at a time: no padding, the same positions as at inference
            sample = targets.sample(i)
            logits = _forward_logits(draft, sample)
            loss = loss + sparse_kl(logits, targets.top_ids[i], targets.top_logp[i]) / batch_size
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.detach().item())
        bar.set_postfix(kl=f"{losses[-1]:.3f}")
    model.eval().requires_grad_(False)
    return losses


@torch.no_grad()
def draft_agreement(draft: LoadedModel, targets: TeacherTargets) -> float:
    """Top-1 agreement of the draft's next-token prediction with the teacher's over all positions."""
    match = total = 0
    for i, ids in enumerate(targets.top_ids):
        sample = targets.sample(i)
        pred = _forward_logits(draft, sample).argmax(-1).cpu()
        match += int((pred == ids[:, 0]).sum())
        total += len(ids)
    return match / max(total, 1)

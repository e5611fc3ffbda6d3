"""Early-exit adapters trained on a frozen target by distillation (``spec-decode train-adapters`` is
``spec_decode_ros.adapt.train_exits``).

The corpus is what the target itself generates: text from chat prompts, or (a VLM) its answers to camera
frames with their instructions (``corpus.Sample``: image inputs included, answer positions kept). One teacher
pass caches the hidden states at each exit and the final top-k distribution; the adapters then learn
KL(final ‖ exit) from random positions (cheap: adapter + LM head only). ``train_and_save`` reports
exit-vs-final top-1 agreement on the held-out sequences before and after and saves ``exit_adapters.*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from spec_decode_ros.decoding.adapters import ExitAdapters
from spec_decode_ros.decoding.corpus import Sample, split
from spec_decode_ros.decoding.distillation import (
    TeacherTargets,
    one_cycle,
    sparse_kl,
    teacher_targets,
    top1_agreement,
)
from spec_decode_ros.decoding.models import LoadedModel
from spec_decode_ros.paths import portable_path


def exit_agreement(model: LoadedModel, adapters: ExitAdapters, targets: TeacherTargets) -> dict[int, float]:
    """Top-1 agreement of each exit with the final layer over all positions of ``targets``."""
    out = {}
    adapters = adapters.to(next(model.model.parameters()).device)
    with torch.no_grad():
        for ell in adapters.layers:
            hidden, top_ids, _ = targets.positions(ell)
            agree = [top1_agreement(_exit_logits(model, adapters, ell, h), ids)
                     for h, ids in zip(hidden.split(512), top_ids.split(512), strict=True)]
            sizes = [len(ids) for ids in top_ids.split(512)]
            out[ell] = sum(a * n for a, n in zip(agree, sizes, strict=True)) / max(sum(sizes), 1)
    return out


def train_exit_adapters(model: LoadedModel, layers: Sequence[int], targets: TeacherTargets, *,
                        steps: int = 300, lr: float = 2e-3, batch_positions: int = 128, inner: int | None = None,
                        seed: int = 0, progress: bool = True) -> ExitAdapters:
    """Distil the final distribution into one adapter per exit layer (from cached hidden states); the model
    stays frozen. ``targets`` must hold the hidden states of every layer in ``layers``."""
    bad = [ell for ell in layers if not 1 <= ell < model.num_layers]
    if bad:
        raise ValueError(f"exit layers {bad} out of range: 1 <= layer < {model.num_layers}")
    missing = [ell for ell in layers if ell not in targets.hidden]
    if missing or not targets.sequences:
        raise ValueError(f"teacher targets lack hidden states for layers {missing} (or are empty)")
    torch.manual_seed(seed)
    adapters = ExitAdapters(layers, model.hidden_size, inner=inner).to(next(model.model.parameters()).device)
    model.model.requires_grad_(False)
    opt = torch.optim.AdamW(adapters.parameters(), lr=lr, weight_decay=0.0)
    sched = one_cycle(opt, lr, steps)
    data = {ell: targets.positions(ell) for ell in adapters.layers}
    n = len(data[adapters.layers[0]][1])
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(steps), desc="exit adapters", disable=not progress)
    for _ in bar:
        idx = torch.randint(n, (min(batch_positions, n),), generator=gen)
        loss = sum(sparse_kl(_exit_logits(model, adapters, ell, h[idx]), ids[idx], logp[idx])
                   for ell, (h, ids, logp) in data.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(kl=f"{loss.detach().item() / len(data):.3f}")
    return adapters.eval()


def _exit_logits(model: LoadedModel, adapters: ExitAdapters, layer: int, hidden: torch.Tensor) -> torch.Tensor:
    p = next(model.model.parameters())
    return model.head(adapters(layer, hidden.to(device=p.device, dtype=torch.float32)).to(p.dtype))


def train_and_save(model: LoadedModel, layers: Sequence[int], corpus: Sequence[torch.Tensor | Sample], out: Path, *,
                   steps: int = 300, lr: float = 2e-3, progress: bool = True) -> dict[str, object]:
    """Teacher pass, train on 80 % of the corpus, report agreement on the held-out 20 %, save beside ``out``."""
    train, held = split(corpus)
    targets = teacher_targets(model, train, layers=layers, progress=progress, desc="teacher pass (train)")
    held_targets = teacher_targets(model, held, layers=layers, progress=progress, desc="teacher pass (held-out)")
    before = exit_agreement(model, ExitAdapters(layers, model.hidden_size), held_targets)
    adapters = train_exit_adapters(model, layers, targets, steps=steps, lr=lr, progress=progress)
    after = exit_agreement(model, adapters, held_targets)
    adapters.save(out)
    return {"layers": list(layers), "num_layers": model.num_layers, "train_sequences": len(train),
            "heldout_sequences": len(held), "train_positions": targets.num_positions,
            "heldout_positions": held_targets.num_positions,
            "agreement_identity": before, "agreement_trained": after, "saved": portable_path(out)}

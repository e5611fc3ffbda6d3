"""Early-exit adapters for the embedded target, trained with the engine's own adapter training.

The engine's ``adapter_training`` learns from ``TeacherTargets`` (hidden states after layer ℓ-1 and the
final top-k distribution per position). Its corpus builder is text-only, so for this VLM the teacher
pass is done here, with the images: simulator examples (image + instruction + expert answer) go
through the target teacher-forced, and only the positions that predict answer tokens (from
``<answer>`` on, i.e. the positions a verification feeds) are kept. Training, agreement and saving
are the engine's (``train_exit_adapters``, ``exit_agreement``, ``ExitAdapters.save``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from spec_decode_ros.embedded.batching import IGNORE_INDEX, Example, training_batch
from spec_decode_ros.embedded.data import take_examples


@torch.no_grad()
def vlm_teacher_targets(model: object, examples: Sequence[Example], layers: Sequence[int], *, k: int = 32,
                        batch_size: int = 64, desc: str = "teacher pass") -> object:
    """``decoding.distillation.TeacherTargets`` over the answer positions of ``examples`` (images included)."""
    from spec_decode_ros.decoding.distillation import TeacherTargets

    captured: dict[int, torch.Tensor] = {}

    def make_hook(ell: int):
        def hook(module: torch.nn.Module, args: object, output: object) -> None:
            captured[ell] = (output[0] if isinstance(output, tuple) else output).float()

        return hook

    handles = [model.layers[ell - 1].register_forward_hook(make_hook(ell)) for ell in layers]  # type: ignore[attr-defined]
    out = TeacherTargets([], [], [], {ell: [] for ell in layers})
    k = min(k, model.vocab_size)  # type: ignore[attr-defined]
    try:
        for start in tqdm(range(0, len(examples), batch_size), desc=desc, unit="batch", dynamic_ncols=True):
            batch = training_batch(model.processor, examples[start:start + batch_size])  # type: ignore[attr-defined]
            logits = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],  # type: ignore[attr-defined]
                                 pixel_values=batch["pixel_values"]).logits.float()  # [B, T, V]
            predicts_answer = torch.zeros_like(batch["labels"], dtype=torch.bool)  # [B, T]
            predicts_answer[:, :-1] = batch["labels"][:, 1:] != IGNORE_INDEX  # position t predicts token t+1
            for row in range(logits.shape[0]):
                keep = predicts_answer[row]
                vals, ids = torch.topk(logits[row, keep], k, dim=-1)
                out.sequences.append(batch["input_ids"][row, keep])
                out.top_ids.append(ids)
                out.top_logp.append(torch.log_softmax(vals, dim=-1))
                for ell in layers:
                    out.hidden[ell].append(captured[ell][row, keep])
    finally:
        for h in handles:
            h.remove()
    return out


def train_exit_adapters(target_folder: Path, *, steps: int, seed: int, stream_seeds: Sequence[int],
                        batch_size: int = 64, train_examples: int = 2048, heldout_examples: int = 256,
                        layers: Sequence[int] | None = None, lr: float = 2e-3) -> dict[str, object]:
    """Train exit adapter(s) (default: one at L/2) for the target in ``target_folder`` and save them beside it,
    on simulator images rendered at the size the target's processor works at."""
    from spec_decode_ros.decoding import adapter_training
    from spec_decode_ros.decoding.adapters import ExitAdapters
    from spec_decode_ros.decoding.image_size import processor_image_size
    from spec_decode_ros.decoding.models import load_model

    model = load_model(target_folder)
    image_size = processor_image_size(model.processor)
    exit_layers = list(layers) if layers else [model.num_layers // 2]
    per_stream = -(-train_examples // len(stream_seeds))
    train: list[Example] = []
    for s in stream_seeds:
        train += take_examples(s, "train", per_stream, image_size)
    held = take_examples(seed + 3, "heldout", heldout_examples, image_size)
    targets = vlm_teacher_targets(model, train, exit_layers, batch_size=batch_size, desc="teacher pass (train)")
    held_targets = vlm_teacher_targets(model, held, exit_layers, batch_size=batch_size, desc="teacher pass (held-out)")
    before = adapter_training.exit_agreement(model, ExitAdapters(exit_layers, model.hidden_size), held_targets)
    adapters = adapter_training.train_exit_adapters(model, exit_layers, targets, steps=steps, lr=lr, seed=seed)
    after = adapter_training.exit_agreement(model, adapters, held_targets)
    adapters.save(target_folder)
    return {"layers": exit_layers, "num_layers": model.num_layers, "train_examples": len(train),
            "train_positions": sum(len(s) for s in targets.sequences),
            "heldout_positions": sum(len(s) for s in held_targets.sequences),
            "heldout_agreement_identity": before, "heldout_agreement_trained": after}

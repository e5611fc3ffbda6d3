"""Exit adapters: one small trainable module per early exit, on a frozen target.

An exit at layer ℓ maps the hidden states after layer ℓ-1 through its adapter and then the
target's own final norm and LM head. Architecture "mlp": h + W2·silu(W1·rmsnorm(h)) (a residual
MLP). Saved beside the model as ``exit_adapters.safetensors`` + ``exit_adapters.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS = "exit_adapters.safetensors"
META = "exit_adapters.json"
ARCHITECTURES = ("mlp",)


def no_exits_line(model: str) -> str:
    """What a verifier says at start when its target has no exit adapters beside it."""
    return (f"spec-decode cloud: {model} has no exit adapters ({WEIGHTS}): early exits are off and robots gain "
            f"nothing from pre-drafting; train them with 'spec-decode train-adapters {model} --from-bag BAG'")


class ResidualMLP(torch.nn.Module):
    """h [..., H] -> h + W2 silu(W1 rmsnorm(h))."""

    def __init__(self, hidden: int, inner: int) -> None:
        super().__init__()
        self.norm = torch.nn.RMSNorm(hidden, eps=1e-6)
        self.up = torch.nn.Linear(hidden, inner)
        self.down = torch.nn.Linear(inner, hidden)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.down(torch.nn.functional.silu(self.up(self.norm(h))))


class ExitAdapters(torch.nn.Module):
    """Adapters keyed by exit layer ℓ (1 <= ℓ < L): ``self[ℓ](h)``."""

    def __init__(self, layers: Sequence[int], hidden: int, *, inner: int | None = None,
                 architecture: str = "mlp", zero_init: bool = True) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown exit adapter architecture {architecture!r}; known: {ARCHITECTURES}")
        if not layers or any(int(ell) < 1 for ell in layers) or len(set(layers)) != len(layers):
            raise ValueError(f"exit layers must be distinct integers >= 1, got {list(layers)}")
        self.layers = tuple(sorted(int(ell) for ell in layers))
        self.hidden = hidden
        self.inner = inner or 2 * hidden
        self.architecture = architecture
        self.blocks = torch.nn.ModuleDict({str(ell): ResidualMLP(hidden, self.inner) for ell in self.layers})
        if zero_init:  # start as the identity: the exit is then "skip the remaining layers"
            for block in self.blocks.values():
                torch.nn.init.zeros_(block.down.weight)
                torch.nn.init.zeros_(block.down.bias)

    def __getitem__(self, layer: int) -> torch.nn.Module:
        return self.blocks[str(layer)]

    def forward(self, layer: int, hidden: torch.Tensor) -> torch.Tensor:
        return self.blocks[str(layer)](hidden)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(folder / WEIGHTS))
        meta = {"layers": list(self.layers), "hidden": self.hidden, "inner": self.inner,
                "architecture": self.architecture}
        (folder / META).write_text(json.dumps(meta, indent=2) + "\n")
        return folder / WEIGHTS

    @classmethod
    def exists(cls, folder: str | Path) -> bool:
        return (Path(folder) / WEIGHTS).is_file() and (Path(folder) / META).is_file()

    @classmethod
    def load(cls, folder: str | Path, *, hidden: int | None = None) -> ExitAdapters:
        folder = Path(folder)
        if not cls.exists(folder):
            raise FileNotFoundError(f"no {WEIGHTS} + {META} in {folder}")
        meta = json.loads((folder / META).read_text())
        if hidden is not None and int(meta["hidden"]) != hidden:
            raise ValueError(f"exit adapters in {folder} are for hidden size {meta['hidden']}, the model has {hidden}")
        adapters = cls(meta["layers"], int(meta["hidden"]), inner=int(meta["inner"]),
                       architecture=meta.get("architecture", "mlp"))
        adapters.load_state_dict(load_file(str(folder / WEIGHTS)))
        return adapters.eval()

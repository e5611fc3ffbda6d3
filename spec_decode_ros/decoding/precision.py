"""Which device and floating-point type a model runs in: the names the commands and nodes accept and
what ``auto`` means (the GPU when there is one; bfloat16 on a GPU that supports it, else float32).

``decoding.models.load_model`` resolves them; every command that loads a model takes ``--dtype``/``--device``
through ``add_arguments`` and the draft node takes the same names as parameters.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when a name is resolved, so that argument parsing stays light
    import torch

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEFAULT_DTYPE = "auto"
DEFAULT_DEVICE = "auto"


def resolve_device(device: str | torch.device = DEFAULT_DEVICE) -> torch.device:
    """``auto`` -> ``cuda`` when a CUDA device is present, else ``cpu``; any torch device string otherwise."""
    import torch

    if isinstance(device, torch.device):
        return device
    name = str(device).strip()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"device {device!r} is not a torch device (e.g. auto, cpu, cuda, cuda:1)") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: this torch ({torch.__version__}) sees no CUDA device")
    return dev


def resolve_dtype(dtype: str | torch.dtype = DEFAULT_DTYPE, device: str | torch.device = "cpu") -> torch.dtype:
    """A name from ``DTYPES`` (or a torch dtype) -> the torch dtype; ``auto`` -> bfloat16 on a CUDA device that
    supports it, else float32."""
    import torch

    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {list(DTYPES)}")
    if dtype != "auto":
        return getattr(torch, dtype)
    dev = resolve_device(device)
    return torch.bfloat16 if dev.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32


def device_argument(text: str) -> str:
    """argparse type of ``--device``: a device this machine has (else a one-line usage error)."""
    try:
        resolve_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dtype`` and ``--device`` for a command that loads models (pass them on to ``load_model``)."""
    parser.add_argument("--dtype", choices=DTYPES, default=DEFAULT_DTYPE,
                        help="model weights and activations (default auto: bfloat16 on a CUDA GPU that supports it, "
                             "else float32)")
    parser.add_argument("--device", type=device_argument, default=DEFAULT_DEVICE,
                        help="torch device, e.g. cpu, cuda, cuda:1 (default auto: cuda when present, else cpu)")

"""One torch thread per test process: the machines are small and shared (oversubscription is slower)."""

from __future__ import annotations

import torch

torch.set_num_threads(1)

"""``spec-decode cloud --emulate-forward-ms MS ...``: the cloud command with every target forward lasting at least
MS (``ForwardCost.floor``: a large target on a GPU, where a forward over a few tokens, or a few rows, costs about as
much as over one; the early verdict after the exit layer's share), in this verifier or in every fleet replica.
``spec-decode`` sends a ``cloud`` command that names the option here; this module puts the wrapper around the
target and runs the cloud command's own ``main`` with the same options."""

from __future__ import annotations

import argparse
import sys

from spec_decode_ros.bench.cost import ForwardCost
from spec_decode_ros.cloud import command


def emulated_forward(argv: list[str]) -> ForwardCost | None:
    """The wrapper ``--emulate-forward-ms`` in ``argv`` asks for (None for 0 or none)."""
    ap = argparse.ArgumentParser(prog="spec-decode cloud", add_help=False)
    ap.add_argument("--emulate-forward-ms", type=float, default=0.0)
    args, _ = ap.parse_known_args(argv)
    if args.emulate_forward_ms < 0:
        ap.error(f"--emulate-forward-ms must be >= 0, got {args.emulate_forward_ms}")
    return ForwardCost.floor(args.emulate_forward_ms / 1000.0) if args.emulate_forward_ms > 0 else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    return command.main(argv, wrap_target=emulated_forward(argv))


if __name__ == "__main__":
    sys.exit(main())

"""``spec-decode cloud --emulate-forward-ms MS ...``: the cloud command with every target forward lasting at least
MS (``ForwardCost.floor``: a large target on a GPU, where a forward over a few tokens, or a few rows, costs about as
much as over one; the early verdict after the exit layer's share). ``spec-decode`` sends a ``cloud`` command that
names the option here; this module puts the wrapper around the target and runs the cloud command's own ``main``."""

from __future__ import annotations

import argparse
import sys

from spec_decode_ros.bench.cost import ForwardCost
from spec_decode_ros.bridge import server


def split_arguments(argv: list[str]) -> tuple[ForwardCost | None, list[str]]:
    """``--emulate-forward-ms`` as the wrapper to put around the target (None for 0), and the cloud's own options."""
    ap = argparse.ArgumentParser(prog="spec-decode cloud", add_help=False)
    ap.add_argument("--emulate-forward-ms", type=float, default=0.0,
                    help="pad every target forward to at least this long (0: off)")
    args, rest = ap.parse_known_args(argv)
    if args.emulate_forward_ms < 0:
        ap.error(f"--emulate-forward-ms must be >= 0, got {args.emulate_forward_ms}")
    return (ForwardCost.floor(args.emulate_forward_ms / 1000.0) if args.emulate_forward_ms > 0 else None), rest


def main(argv: list[str] | None = None) -> int:
    cost, rest = split_arguments(sys.argv[1:] if argv is None else argv)
    return server.main(rest, wrap_target=cost)


if __name__ == "__main__":
    sys.exit(main())

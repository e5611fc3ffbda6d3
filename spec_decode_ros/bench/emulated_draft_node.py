"""The draft node on an emulated slower robot computer: ``python -m spec_decode_ros.bench.emulated_draft_node
--emulate-draft-ms MS --ros-args ...`` runs ``spec_decode_ros/nodes/draft.py``'s node whose every drafted token, and
whose prompt prefill, lasts at least MS (``PacedDraftSession``). ``spec-decode demo --emulate-draft-ms`` starts it in
place of the plain node; the ROS arguments (from ``--ros-args`` on) go to the node unchanged."""

from __future__ import annotations

import argparse
import sys

from spec_decode_ros.bench.emulation import paced_drafts


def split_arguments(argv: list[str]) -> tuple[float, list[str]]:
    """The emulated draft forward in seconds, and the ROS arguments (``--ros-args`` and all after it)."""
    cut = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    ap = argparse.ArgumentParser(prog="emulated_draft_node", description=__doc__.split("\n\n")[0])
    ap.add_argument("--emulate-draft-ms", type=float, required=True,
                    help="each drafted token, and the draft's prompt prefill, lasts at least this long")
    args = ap.parse_args(argv[:cut])
    if args.emulate_draft_ms < 0:
        ap.error(f"--emulate-draft-ms must be >= 0, got {args.emulate_draft_ms}")
    return args.emulate_draft_ms / 1000.0, argv[cut:]


def main(argv: list[str] | None = None) -> int:
    forward_s, ros_args = split_arguments(sys.argv[1:] if argv is None else argv)
    from spec_decode_ros.nodes import draft  # ROS lives there: imported only where this node runs

    return draft.main([sys.argv[0], *ros_args], new_draft=paced_drafts(forward_s))


if __name__ == "__main__":
    sys.exit(main())

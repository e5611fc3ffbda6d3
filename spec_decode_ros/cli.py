"""``spec-decode``: one command, one subcommand per job. Each subcommand lives in its own module
as ``main(argv: list[str]) -> int`` and is imported only when called, so the cloud side never
imports ROS and ``spec-decode --help`` stays fast."""

from __future__ import annotations

import importlib
import sys

from spec_decode_ros.decoding.hub import ModelNotFoundError

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("spec_decode_ros.demo", "closed loop on the embedded default: sim Go2, local verifier, bag + report"),
    "cloud": ("spec_decode_ros.cloud.command", "run the cloud verifier (target VLM + early exits) on ZeroMQ"),
    "health": ("spec_decode_ros.cloud.health", "exit 0 when a verifier answers a PING (1 dead, 2 refused by keys)"),
    "bench": ("spec_decode_ros.bench.modes", "edge-cloud benchmark: every decoding mode over an emulated link"),
    "fleet-bench": ("spec_decode_ros.bench.fleet", "verifier fleet benchmark: 1-128 emulated robots, batching, Ray replicas"),
    "bench-sweep": ("spec_decode_ros.bench.mode_map", "map of the regimes: every mode and auto over RTT x forward x draft"),
    "bench-local": ("spec_decode_ros.bench.in_process", "in-process benchmark: target alone vs speculative decoding"),
    "train": ("spec_decode_ros.embedded.train", "train the embedded default VLM pair and its exit adapters"),
    "train-adapters": ("spec_decode_ros.adapt.train_exits", "train early-exit adapters on the target's own answers (text or camera frames)"),
    "make-draft": ("spec_decode_ros.adapt.make_draft", "derive a draft from a target and distil it on its own answers"),
    "eval": ("spec_decode_ros.embedded.evaluate", "evaluate the embedded pair: accuracy, acceptance, closed loop"),
    "models": ("spec_decode_ros.decoding.zoo", "build or list the local model pairs (e.g. SmolLM2 from its wheel)"),
    "keys": ("spec_decode_ros.bridge.keys", "generate ZeroMQ CURVE key pairs for the cloud and robots"),
    "report": ("spec_decode_ros.analysis.report", "latency report and plots from recorded bags"),
}


# a command given a benchmark's emulation option runs from the benchmark module that puts that emulation around it
# (runtime modules never import ``spec_decode_ros.bench``)
EMULATED: dict[tuple[str, str], str] = {
    ("cloud", "--emulate-forward-ms"): "spec_decode_ros.bench.emulated_cloud",
}


def module_of(name: str, rest: list[str]) -> str:
    """The module that runs subcommand ``name`` with options ``rest``."""
    for (command, option), module in EMULATED.items():
        if name == command and any(a == option or a.startswith(option + "=") for a in rest):
            return module
    return SUBCOMMANDS[name][0]


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items())
    return f"usage: spec-decode <command> [options]\n\ncommands:\n{rows}\n\n'spec-decode <command> --help' for details"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"spec-decode: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(module_of(name, rest))
    try:
        return int(module.main(rest) or 0)
    except ModelNotFoundError as err:  # a model name that is no folder and no cached/downloadable model
        print(f"spec-decode {name}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

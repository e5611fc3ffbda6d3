"""The options test: every ``spec-decode cloud`` option lands in the ONE ``CloudConfig``, and what one verifier
and what a fleet replica receive from it are the same for every option (a replica gets the object pickled, as
Ray sends it); every verifier option changes what both run (none is silently dropped on either path), and the
front's options reach the fleet. The real replica's copy is compared in ``test_fleet_service``."""

from __future__ import annotations

import pickle
from dataclasses import fields, replace
from pathlib import Path

import pytest
import zmq

from spec_decode_ros.bridge.keys import KeyPair
from spec_decode_ros.bridge.security import ServerSecurity
from spec_decode_ros.cloud.config import FRONT_OPTIONS, CloudConfig, ConfigError, build_parser, option_names, parse
from spec_decode_ros.cloud.fleet import make_fleet, replica_plan
from spec_decode_ros.cloud.verifier import plan

KEYS = Path("/keys")
# a value other than the default for every option
NON_DEFAULT: dict[str, object] = {
    "model": "some-model", "bind": "tcp://127.0.0.1:6000", "max_batch": 3, "max_wait_ms": 7.5,
    "emulate_forward_ms": 12.0, "fuse_first_round": False, "max_sessions": 9, "idle_timeout_s": 11.0,
    "memory_cap_mb": 123.0, "max_sessions_per_client": 2, "keys": None, "secret_key": KEYS / "c.key_secret",
    "allow_dir": KEYS / "allowed", "insecure_plaintext": True, "flood_refused_mb": 3.0, "threads": 2, "cpus": "0",
    "dtype": "float32", "device": "cpu", "replicas": 2, "ray_address": "10.0.0.1:6379", "log_level": "debug",
    "log_format": "json", "metrics_port": 9100, "metrics_host": "0.0.0.0",
}


def argv_for(values: dict[str, object]) -> list[str]:
    """The command line that sets ``values`` (flag names from the parser itself)."""
    argv: list[str] = []
    for action in build_parser()._actions:
        if action.dest not in values or values[action.dest] is None:
            continue
        flag, value = action.option_strings[0], values[action.dest]
        if action.nargs == 0:  # store_true / store_false
            if value != action.default:
                argv.append(flag)
        else:
            argv += [flag, str(value)]
    return argv


def from_argv(argv: list[str]) -> CloudConfig:
    return CloudConfig.from_namespace(build_parser().parse_args(argv))


def hop() -> ServerSecurity:
    public, secret = zmq.curve_keypair()
    return ServerSecurity.in_memory(KeyPair(public, secret), frozenset({zmq.curve_keypair()[0]}))


def single_and_replica(config: CloudConfig) -> tuple[dict[str, object], dict[str, object]]:
    """What the single verifier runs and what a replica runs (from a pickled copy), less where each binds, its
    CURVE set-up and its log label (which differ by design)."""
    one = plan(config, bind=config.bind, security=config.security(), insecure_ok=config.insecure_plaintext)
    rep = replica_plan(pickle.loads(pickle.dumps(config)), bind="tcp://127.0.0.1:0", security=hop(), label="replica 0")

    def comparable(p: object) -> dict[str, object]:
        out = {f.name: getattr(p, f.name) for f in fields(p)}  # type: ignore[arg-type]
        out["server"] = replace(out["server"], bind="", security=None, label="", insecure_plaintext=False)
        return out

    return comparable(one), comparable(rep)


def test_the_config_has_one_field_per_option_and_every_option_has_a_non_default_here():
    assert [f.name for f in fields(CloudConfig)] == option_names()
    assert set(NON_DEFAULT) == set(option_names())
    assert FRONT_OPTIONS < set(option_names())


def test_every_option_reaches_the_config():
    config = from_argv(argv_for(NON_DEFAULT))
    for name, value in NON_DEFAULT.items():
        assert getattr(config, name) == value, name


def test_launch_ros_arguments_are_dropped():
    config = from_argv(["--model", "m"])
    assert parse(["--model", "m", "--bind", "tcp://127.0.0.1:7", "--ros-args", "-r", "__node:=cloud",
                  "--params-file", "/x.yaml"]) == replace(config, bind="tcp://127.0.0.1:7")


@pytest.mark.parametrize("name", [n for n in NON_DEFAULT if n not in FRONT_OPTIONS])
def test_each_verifier_option_reaches_one_verifier_and_every_replica_alike(name):
    base = from_argv(["--model", "m"])
    changed = from_argv(argv_for({"model": "m", name: NON_DEFAULT[name]}))
    one, rep = single_and_replica(changed)
    assert one == rep, f"--{name}: a replica runs differently from one verifier"
    assert single_and_replica(base)[1] != rep, f"--{name} changes nothing a replica runs"


def test_all_options_together_give_a_replica_what_one_verifier_gets():
    one, rep = single_and_replica(from_argv(argv_for(NON_DEFAULT)))
    assert one == rep


def test_the_fronts_options_reach_the_fleet():
    config = from_argv(argv_for(NON_DEFAULT))
    fleet = make_fleet(config)
    assert (fleet.bind, fleet.n, fleet.ray_address, fleet.idle_timeout_s) == (
        config.bind, 2, config.ray_address, config.idle_timeout_s)
    assert fleet.security == ServerSecurity(KEYS / "c.key_secret", KEYS / "allowed")
    assert fleet.spec.config is config and not fleet.spec.gpu  # --device cpu: no GPU asked of Ray


@pytest.mark.parametrize("argv, message", [
    (["--secret-key", "k"], "go together"),
    (["--replicas", "-1"], "--replicas"),
    (["--metrics-port", "70000"], "not a TCP port"),
    (["--cpus", "a"], "invalid literal"),
    (["--bind", "tcp://0.0.0.0:5555"], "--insecure-plaintext"),
])
def test_options_that_do_not_go_together_are_refused_before_anything_loads(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse(["--model", "m", *argv])

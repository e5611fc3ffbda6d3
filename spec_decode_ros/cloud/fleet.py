"""``spec-decode cloud --replicas N [--ray-address ADDR]``: the same command, served by a fleet of N replicas.

Robots see no difference: one endpoint (``--bind``), the same protocol, the same CURVE keys (checked at the
front). Each replica is built from the command's own ``CloudConfig`` (``build_replica``, in the replica's
process), so every verifier option reaches every replica; the options the front consumes are
``config.FRONT_OPTIONS``.
"""

from __future__ import annotations

from typing import Any

from spec_decode_ros.bridge.security import ServerSecurity
from spec_decode_ros.bridge.server import VerifierServer
from spec_decode_ros.cloud import verifier
from spec_decode_ros.cloud.config import CloudConfig
from spec_decode_ros.fleet.cluster import Fleet
from spec_decode_ros.fleet.replica import ReplicaSpec
from spec_decode_ros.service import logs


def replica_plan(config: CloudConfig, *, bind: str, security: ServerSecurity, label: str) -> verifier.VerifierPlan:
    """What a replica runs: the plan of the single verifier, bound where the fleet says, behind the CURVE hop
    (never plaintext off loopback: ``--insecure-plaintext`` is the front's, for the robots)."""
    return verifier.plan(config, bind=bind, security=security, label=label, insecure_ok=False)


def build_replica(config: CloudConfig, *, bind: str, security: ServerSecurity, label: str,
                  wrap: Any = None) -> VerifierServer:
    """In a replica's process: its logs as the command's, then the verifier ``config`` describes on ``bind``."""
    logs.configure(config.log_level, config.log_format)
    return verifier.start(replica_plan(config, bind=bind, security=security, label=label), wrap)


def replica_spec(config: CloudConfig, wrap: Any = None) -> ReplicaSpec:
    return ReplicaSpec(config=config, build=build_replica, wrap=wrap, gpu=config.device != "cpu")


def make_fleet(config: CloudConfig, *, log_to_driver: bool = True, wrap: Any = None) -> Fleet:
    """The fleet ``config`` describes (not started): ``config.replicas`` replicas behind a front on ``--bind``."""
    return Fleet(replica_spec(config, wrap), config.replicas, config.bind, security=config.security(),
                 ray_address=config.ray_address or None, idle_timeout_s=config.idle_timeout_s,
                 log_to_driver=log_to_driver)

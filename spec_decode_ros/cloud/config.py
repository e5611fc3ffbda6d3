"""The cloud command's options as ONE frozen object (``CloudConfig``), from the parser to every replica.

``build_parser`` owns every ``spec-decode cloud`` option; ``parse`` turns a command line (launch_ros's trailing
``--ros-args ...`` dropped) into a checked ``CloudConfig`` whose fields are exactly the parser's destinations.
The single verifier and each fleet replica receive this same object (a replica gets it pickled by Ray) and
derive what they run from it in one place (``cloud.verifier.plan``); nothing rebuilds it field by field.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from spec_decode_ros.bridge.flood_guard import DEFAULT_REFUSED_BYTES, FloodLimits
from spec_decode_ros.bridge.keys import load_secret
from spec_decode_ros.bridge.security import (
    InsecureBindError,
    ServerSecurity,
    check_allow_dir,
    check_bind_security,
)
from spec_decode_ros.bridge.sessions import Limits
from spec_decode_ros.decoding import precision
from spec_decode_ros.ros_args import strip_ros_args  # launch_ros's --ros-args sections, dropped
from spec_decode_ros.service.logs import LOG_FORMATS, LOG_LEVELS

# options the fleet's front consumes (where robots connect, their keys, the front's own endpoints); every other
# option configures each verifier, the single one and every replica alike
FRONT_OPTIONS = frozenset({"bind", "keys", "secret_key", "allow_dir", "insecure_plaintext", "replicas",
                           "ray_address", "metrics_port", "metrics_host"})


class ConfigError(ValueError):
    """Options that do not go together, or key files that are not there (the command exits 2)."""


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spec-decode cloud", description="Run the cloud verifier on ZeroMQ.")
    ap.add_argument("--model", required=True,
                    help="target model folder (exit adapters beside it are loaded), 'embedded' for the bundled Go2 "
                         "VLM target, or 'smollm2' for the zoo's target")
    ap.add_argument("--bind", default="tcp://0.0.0.0:5555", help="ZeroMQ endpoint to bind (default %(default)s; off "
                    "loopback it needs --keys, or --insecure-plaintext)")
    ap.add_argument("--max-batch", type=int, default=8, help="rows per batched verification (1: unbatched)")
    ap.add_argument("--max-wait-ms", type=float, default=2.0, help="longest a DRAFT waits for other robots to join "
                    "its batch (none waits when every live session has joined)")
    ap.add_argument("--emulate-forward-ms", type=float, default=0.0,
                    help="benchmarks: pad every target forward to at least this long (its early verdict to the exit "
                         "layer's share), emulating a large target on a GPU, where a forward over a few tokens "
                         "costs about as much as over one (0: off)")
    ap.add_argument("--no-fuse-first-round", dest="fuse_first_round", action="store_false",
                    help="prefill each OPEN on its own forward instead of in its session's first verification (by "
                         "default a fresh float32 session's prefill and first round are one forward)")
    ap.add_argument("--max-sessions", type=int, default=Limits.max_sessions)
    ap.add_argument("--idle-timeout-s", type=float, default=Limits.idle_timeout_s)
    ap.add_argument("--memory-cap-mb", type=float, default=Limits.memory_cap_bytes / 2**20,
                    help="cap on all sessions' KV caches")
    ap.add_argument("--max-sessions-per-client", type=int, default=Limits.max_sessions_per_client,
                    help="sessions one CURVE key (without CURVE: one connection) may hold (default %(default)s)")
    ap.add_argument("--keys", type=Path, default=None,
                    help="CURVE key folder made by 'spec-decode keys DIR cloud robot1 ...': its cloud.key_secret and "
                         "the robots' public keys in DIR/allowed/ (turns CURVE on; a key removed from allowed/ is "
                         "revoked within a second, SIGHUP re-reads at once)")
    ap.add_argument("--secret-key", type=Path, default=None, help="the cloud's .key_secret (instead of --keys)")
    ap.add_argument("--allow-dir", type=Path, default=None,
                    help="folder of allowed robot public *.key files (with --secret-key)")
    ap.add_argument("--insecure-plaintext", action="store_true",
                    help="serve without CURVE on a non-loopback address: unauthenticated, unencrypted control of "
                         "the robots (plaintext is always allowed on loopback)")
    ap.add_argument("--flood-refused-mb", type=float, default=DEFAULT_REFUSED_BYTES / 2**20,
                    help="a peer whose refused frames exceed this many MB within 2 s gets nothing more for 10 s "
                         "and its connection is cut (default %(default)s; 0: no flood guard)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--cpus", default="", help="pin the verifier (each replica) to these CPUs, e.g. '1' or '0,1'")
    precision.add_arguments(ap)
    ap.add_argument("--replicas", type=int, default=0,
                    help="serve with N verifier replicas as Ray actors behind one front (0: this process alone)")
    ap.add_argument("--ray-address", default="", help="with --replicas: join this Ray cluster (default: a local one)")
    ap.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="default %(default)s")
    ap.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                    help="text lines, or one JSON object per line for log shippers (default %(default)s)")
    ap.add_argument("--metrics-port", type=int, default=0,
                    help="serve Prometheus metrics on http://METRICS_HOST:PORT/metrics (0: none; a fleet serves "
                         "every replica's series there, labelled replica=\"k\")")
    ap.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics endpoint (default "
                    "%(default)s: scrape it from this machine, or through a proxy)")
    return ap


@dataclass(frozen=True)
class CloudConfig:
    """Every ``spec-decode cloud`` option, as parsed (one field per parser destination, same name)."""

    model: str
    bind: str = "tcp://0.0.0.0:5555"
    max_batch: int = 8
    max_wait_ms: float = 2.0
    emulate_forward_ms: float = 0.0
    fuse_first_round: bool = True
    max_sessions: int = Limits.max_sessions
    idle_timeout_s: float = Limits.idle_timeout_s
    memory_cap_mb: float = Limits.memory_cap_bytes / 2**20
    max_sessions_per_client: int = Limits.max_sessions_per_client
    keys: Path | None = None
    secret_key: Path | None = None
    allow_dir: Path | None = None
    insecure_plaintext: bool = False
    flood_refused_mb: float = DEFAULT_REFUSED_BYTES / 2**20
    threads: int = 0
    cpus: str = ""
    dtype: str = precision.DEFAULT_DTYPE
    device: str = precision.DEFAULT_DEVICE
    replicas: int = 0
    ray_address: str = ""
    log_level: str = "info"
    log_format: str = "text"
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> CloudConfig:
        return cls(**vars(args))

    # what each part derives from the options, in one place
    def limits(self) -> Limits:
        return Limits(self.max_sessions, self.idle_timeout_s, int(self.memory_cap_mb * 2**20),
                      self.max_sessions_per_client)

    def flood(self) -> FloodLimits | None:
        return FloodLimits(refused_bytes=int(self.flood_refused_mb * 2**20)) if self.flood_refused_mb > 0 else None

    def cpu_set(self) -> frozenset[int]:
        return frozenset(int(c) for c in self.cpus.split(",") if c.strip())

    def security(self) -> ServerSecurity | None:
        """The robots' CURVE set-up (``--keys`` or ``--secret-key``/``--allow-dir``), or None for plaintext."""
        if self.keys is not None:
            return ServerSecurity.from_dir(self.keys)
        if self.secret_key is not None:
            return ServerSecurity(self.secret_key, self.allow_dir)
        return None

    def check(self) -> None:
        """``ConfigError`` for options that do not go together or key files that are not usable; run before the
        model loads and long before anything binds."""
        if (self.secret_key is None) != (self.allow_dir is None):
            raise ConfigError("--secret-key and --allow-dir go together (CURVE needs both)")
        if self.keys is not None and self.secret_key is not None:
            raise ConfigError("give either --keys or --secret-key/--allow-dir")
        if self.replicas < 0 or (self.ray_address and not self.replicas):
            raise ConfigError("--replicas must be >= 1 to serve a fleet (--ray-address needs it)")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"--metrics-port {self.metrics_port} is not a TCP port")
        try:
            self.limits()
            self.cpu_set()
        except ValueError as e:
            raise ConfigError(str(e)) from None
        security = self.security()
        try:
            check_bind_security(self.bind, secure=security is not None, insecure_ok=self.insecure_plaintext)
            if security is not None:
                load_secret(security.secret_file)  # type: ignore[arg-type]
                check_allow_dir(security.allow_dir)  # type: ignore[arg-type]
        except (InsecureBindError, FileNotFoundError, ValueError) as e:
            raise ConfigError(str(e)) from None


def parse(argv: list[str]) -> CloudConfig:
    """The checked configuration of a command line (argparse exits 2 on a usage error; ``ConfigError`` else)."""
    config = CloudConfig.from_namespace(build_parser().parse_args(strip_ros_args(argv)))
    config.check()
    return config


def option_names() -> list[str]:
    """Every parser destination (the options test walks them)."""
    return [a.dest for a in build_parser()._actions if a.dest != "help"]


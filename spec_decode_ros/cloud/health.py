"""``spec-decode health ENDPOINT [--keys DIR]``: does the verifier (or a fleet's front) answer a PING?

For systemd, Kubernetes or cron. Exit codes: 0 it answered PONG; 1 nothing answered within ``--timeout-s``
(dead, unreachable, or a fleet with no live replica); 2 the verifier refused this client's CURVE handshake
(its key is not, or no longer, in ``allowed/``, ``DIR/cloud.key`` is not the verifier's, or the verifier wants
CURVE and the check ran without ``--keys``); 3 the check
could not run (bad options, missing key files, plaintext to a non-loopback endpoint without
``--insecure-plaintext``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import zmq
from zmq.utils.monitor import recv_monitor_message

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.keys import load_keypair, load_secret
from spec_decode_ros.bridge.security import (
    CLOUD_KEY_NAME,
    ClientSecurity,
    InsecureBindError,
    check_connect_security,
    make_curve_client,
)
from spec_decode_ros.bridge.sockets import dealer

ANSWERED, DEAD, REFUSED, CANNOT_CHECK = 0, 1, 2, 3
REFUSAL_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit CANNOT_CHECK, not 2 (2 means refused)
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(CANNOT_CHECK)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="spec-decode health", description=__doc__.split("\n\n")[0])
    ap.add_argument("endpoint", help="the verifier's ZeroMQ endpoint, e.g. tcp://127.0.0.1:5555")
    ap.add_argument("--keys", type=Path, default=None,
                    help="CURVE key folder: DIR/cloud.key (the verifier's public key) and DIR/NAME.key_secret")
    ap.add_argument("--name", default="health", help="this client's key pair in --keys (default %(default)s; "
                    "its public key must be in the verifier's allowed/)")
    ap.add_argument("--timeout-s", type=float, default=3.0, help="default %(default)s")
    ap.add_argument("--insecure-plaintext", action="store_true", help="allow plaintext to a non-loopback endpoint")
    ap.add_argument("--quiet", action="store_true", help="print nothing, only exit with the code")
    return ap


def check(endpoint: str, security: ClientSecurity | None, timeout_s: float) -> tuple[int, str]:
    """(exit code, what happened): one PING, then wait for PONG, or for the handshake's refusal."""
    ctx = zmq.Context()
    sock = dealer(ctx, {})
    monitor: zmq.Socket | None = None
    try:
        if security is not None:
            make_curve_client(sock, security)
        monitor = sock.get_monitor_socket(REFUSAL_EVENTS)
        sock.connect(endpoint)
        sent = time.time()
        sock.send(p.encode(p.Ping(sent=sent)))
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            events = dict(poller.poll(int(left * 1000) + 1))
            if monitor in events:
                event = recv_monitor_message(monitor)["event"]
                return REFUSED, f"handshake refused ({zmq.Event(event).name})"
            if sock in events:
                try:
                    msg = p.decode(sock.recv(zmq.NOBLOCK))
                except (p.ProtocolError, zmq.Again):
                    continue
                if isinstance(msg, p.Pong):
                    return ANSWERED, f"PONG in {1000 * (time.time() - sent):.1f} ms, {msg.sessions} sessions"
        return DEAD, f"no answer within {timeout_s} s"
    finally:
        if monitor is not None:
            sock.disable_monitor()
            monitor.close(0)
        sock.close(0)
        ctx.term()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        security = None
        if args.keys is not None:
            security = ClientSecurity(args.keys / f"{args.name}.key_secret", args.keys / f"{CLOUD_KEY_NAME}.key")
            load_secret(security.secret_file)
            load_keypair(security.server_public_file)
        check_connect_security(args.endpoint, secure=security is not None, insecure_ok=args.insecure_plaintext)
        code, what = check(args.endpoint, security, args.timeout_s)
    except (InsecureBindError, FileNotFoundError, ValueError, zmq.ZMQError) as e:
        code, what = CANNOT_CHECK, str(e)
    if not args.quiet:
        print(f"spec-decode health: {args.endpoint}: {what}", file=sys.stdout if code == ANSWERED else sys.stderr)
    return code

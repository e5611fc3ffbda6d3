"""CURVE key pairs for the cloud and the robots (``spec-decode keys``), in ZeroMQ's certificate format.

``NAME.key`` holds the public key, ``NAME.key_secret`` the key pair (mode 0600); both are the files
``zmq.auth.load_certificate`` reads. The cloud trusts every public ``*.key`` in its allow-list folder,
``DIR/allowed/`` by default, which is what ``spec-decode cloud --keys DIR`` reads:

    spec-decode keys keys cloud robot1 robot2      # keys/cloud.key(_secret), keys/robotN.key(_secret), keys/allowed/
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth


@dataclass(frozen=True)
class KeyPair:
    """A CURVE key pair as Z85 bytes (40 characters each); ``secret`` is None for a public-only certificate."""

    public: bytes
    secret: bytes | None


def create_keypair(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``name.key`` and ``name.key_secret`` into ``directory`` (created); returns both paths."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"key name {name!r} must be a plain file name")
    if not zmq.has("curve"):
        raise RuntimeError("this libzmq has no CURVE support")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(directory, name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def load_keypair(path: str | Path) -> KeyPair:
    """Read a certificate file (``.key`` or ``.key_secret``); clear errors for a missing or broken file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CURVE certificate {path} does not exist (make one with 'spec-decode keys')")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except Exception as e:
        raise ValueError(f"{path} is not a ZeroMQ CURVE certificate: {e}") from None
    if public is None or len(public) != 40:
        raise ValueError(f"{path} holds no 40-character Z85 public key")
    return KeyPair(public=public, secret=secret)


def load_secret(path: str | Path) -> KeyPair:
    """Like ``load_keypair`` but the file must hold the secret key too."""
    pair = load_keypair(path)
    if pair.secret is None:
        raise ValueError(f"{path} holds only a public key; pass the .key_secret file")
    return pair


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spec-decode keys", description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path, help="folder to write NAME.key and NAME.key_secret into")
    parser.add_argument("names", nargs="+", help="one key pair per name, e.g. cloud robot1")
    parser.add_argument("--allow", type=Path, default=None,
                        help="copy the public keys of every name except 'cloud' into this allow-list folder "
                             "(default: DIRECTORY/allowed, where 'spec-decode cloud --keys DIRECTORY' looks)")
    parser.add_argument("--force", action="store_true", help="overwrite existing key pairs")
    args = parser.parse_args(argv)
    if args.allow is None:
        args.allow = args.directory / "allowed"
    for name in args.names:
        if (args.directory / f"{name}.key_secret").exists() and not args.force:
            parser.error(f"{args.directory / name}.key_secret exists; use --force to overwrite")
    for name in args.names:
        public, secret = create_keypair(args.directory, name)
        print(f"{name}: public {public}  secret {secret}")
        if args.allow is not None and name != "cloud":
            args.allow.mkdir(parents=True, exist_ok=True)
            shutil.copy(public, args.allow / public.name)
            print(f"  allowed: {args.allow / public.name}")
    return 0

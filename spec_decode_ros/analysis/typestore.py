"""A `rosbags` type store that knows the standard ROS 2 Kilted messages and this package's own.

Used by the recorder node (writing MCAP) and by the report (reading it). The ``.msg`` texts come
from the installed package share directory (``$AMENT_PREFIX_PATH/share/spec_decode_ros/msg``) or,
in a source checkout, from ``msg/`` next to the package. A bag recorded before fields were added to one of
this package's messages is read with the definition it carries (``bag_typestore``).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

PACKAGE = "spec_decode_ros"


def msg_dirs() -> list[Path]:
    """Directories that may hold this package's ``.msg`` files, most specific first."""
    dirs = [Path(__file__).resolve().parents[2] / "msg"]
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        dirs.append(Path(prefix) / "share" / PACKAGE / "msg")
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        dirs.append(Path(venv) / "share" / PACKAGE / "msg")
    return dirs


def package_msg_files() -> dict[str, Path]:
    """Message type name (``spec_decode_ros/msg/X``) -> its ``.msg`` file."""
    for d in msg_dirs():
        files = sorted(d.glob("*.msg"))
        if files:
            return {f"{PACKAGE}/msg/{f.stem}": f for f in files}
    raise FileNotFoundError(f"no {PACKAGE} .msg files in any of: {', '.join(map(str, msg_dirs()))}")


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """Kilted's standard types plus every ``spec_decode_ros/msg/*`` type."""
    return _store(_package_definitions())


@lru_cache(maxsize=16)
def bag_typestore(msgtype: str, definition: str) -> Typestore:
    """A type store reading ``msgtype`` as ``definition`` (the MSG text a bag carries: the type itself, then
    ``MSG:`` sections of the standard types it nests) says, every other type as ``typestore()`` does."""
    own = re.split(r"^=+\s*$", definition, maxsplit=1, flags=re.M)[0]
    return _store(_package_definitions() | {msgtype: own})


def _package_definitions() -> dict[str, str]:
    """Message type name -> its MSG text, for every type of this package."""
    return {name: path.read_text() for name, path in package_msg_files().items()}


def _store(definitions: dict[str, str]) -> Typestore:
    """Kilted's standard types plus ``definitions`` (type name -> MSG text)."""
    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for name, text in definitions.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store

"""Paths as written into results and reports (JSON, tables): relative to the repository or to the output
folder, never the absolute path of the machine that produced them."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ELIDED = "..."  # stands for the part of a path outside the repository and the output folder


def portable_path(path: str | Path, base: str | Path | None = None) -> str:
    """``path`` for a result file: as given when relative (or a hub id); else relative to the repository root,
    or to ``base`` (the output folder) when under it; else ``.../<parent>/<name>`` (where it lay is dropped)."""
    given = Path(path).expanduser()
    if not given.is_absolute():
        return given.as_posix()
    resolved = given.resolve()
    for root in (REPO_ROOT, Path(base).expanduser().resolve() if base is not None else None):
        if root is not None and resolved.is_relative_to(root):
            return resolved.relative_to(root).as_posix()
    return "/".join([ELIDED, *resolved.parts[-2:]]) if len(resolved.parts) > 2 else f"{ELIDED}/{resolved.name}"

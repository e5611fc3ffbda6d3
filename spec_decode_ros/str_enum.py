"""``StrEnum`` for Python 3.10: ``enum.StrEnum`` is 3.11+, so the string enums of the package derive from this
``(str, Enum)`` base instead, which behaves as ``enum.StrEnum`` does where the package relies on it: a member
is a ``str`` equal to its value (msgpack, YAML, JSON and comparisons see the value), and ``str()``, f-strings
and ``format()`` give the value, not ``ClassName.MEMBER``."""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """A string enum whose members print, format and compare as their values (``enum.StrEnum`` on 3.10)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str.__str__(self), format_spec)

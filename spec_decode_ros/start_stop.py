"""``with thing:`` for things that are started and stopped (a cloud process, the link emulator's thread): the
context starts it and stops it after, whatever happened inside."""

from __future__ import annotations

from typing import TypeVar

Started = TypeVar("Started", bound="StartStop")


class StartStop:
    """Subclasses give ``start()`` (returning the started object) and ``stop()``."""

    def start(self: Started) -> Started:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: Started) -> Started:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

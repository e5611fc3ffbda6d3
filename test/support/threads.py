"""Run a blocking loop (a server's ``serve_forever``, an executor's ``spin``) on a thread for a ``with`` block."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def in_thread(run: Callable[[], object], stop: Callable[[], object], join_s: float = 10.0) -> Iterator[threading.Thread]:
    """``run`` on a daemon thread; on leaving, ``stop()`` and wait up to ``join_s`` for the thread to end."""
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop()
        thread.join(join_s)

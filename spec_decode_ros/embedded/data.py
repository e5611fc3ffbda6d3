"""Fresh simulator data for training: background generator processes and a growing replay pool.

``StreamPrefetcher`` runs ``sim.dataset.sample_stream`` in worker processes (one seed each) that
render ahead of the trainer; ``take(n)`` hands out the next n examples in a fixed round-robin order,
so a run is reproducible from its seeds however fast the workers are. ``ReplayPool`` keeps the
most recent examples and draws training batches from them with a seeded generator: each example
is seen a few times, and the pool keeps moving, so the model cannot memorise a fixed set.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import queue
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from spec_decode_ros.embedded.batching import Example

_STOP = "__stop__"


def iter_examples(seed: int, split: str, image_size: int, jpeg_quality: int | None, *,
                  object_maps: bool = False, clear_keep: float = 1.0) -> Iterator[Example]:
    """Examples of one simulator stream, rendered at ``image_size``×``image_size`` (with object maps if asked;
    ``clear_keep`` < 1 thins out the states clear of the expert's thresholds, see ``sim.dataset``)."""
    from spec_decode_ros.sim.dataset import sample_stream

    kwargs: dict[str, object] = {"split": split, "width": image_size, "height": image_size,
                                 "object_maps": object_maps, "clear_keep": clear_keep}
    if jpeg_quality is not None:
        kwargs["jpeg_quality"] = jpeg_quality
    for sample in sample_stream(seed, **kwargs):
        yield Example(image=np.ascontiguousarray(sample.image), instruction=sample.instruction, answer=sample.answer,
                      object_map=sample.object_map, state=sample.meta.get("state", ""))


def take_examples(seed: int, split: str, n: int, image_size: int, jpeg_quality: int | None = None) -> list[Example]:
    """The first ``n`` examples of one stream, generated in this process (held-out sets, tests)."""
    out: list[Example] = []
    for example in iter_examples(seed, split, image_size, jpeg_quality):
        out.append(example)
        if len(out) >= n:
            break
    return out


Source = Callable[[int, str, int, "int | None"], Iterator[Example]]


def _worker(source: Source, seed: int, split: str, image_size: int, jpeg_quality: int | None, out: mp.Queue) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        for example in source(seed, split, image_size, jpeg_quality):
            out.put((example.image, example.instruction, example.answer, example.object_map))
    except Exception as exc:  # surfaced to the trainer by take()
        out.put((_STOP, f"{type(exc).__name__}: {exc}", "", None))
        raise
    out.put((_STOP, "stream ended", "", None))


class StreamPrefetcher:
    """Background workers rendering simulator examples ahead of the trainer, in a reproducible order."""

    def __init__(self, seeds: Sequence[int], *, split: str, image_size: int, jpeg_quality: int | None = None,
                 queue_size: int = 2048, source: Source = iter_examples, object_maps: bool = False,
                 clear_keep: float = 1.0) -> None:
        if not seeds:
            raise ValueError("StreamPrefetcher: give at least one seed")
        if object_maps:
            source = functools.partial(source, object_maps=True)
        if clear_keep < 1.0:
            source = functools.partial(source, clear_keep=clear_keep)
        ctx = mp.get_context("spawn")
        self._queues: list[mp.Queue] = [ctx.Queue(maxsize=queue_size) for _ in seeds]
        self._procs = [
            ctx.Process(target=_worker, args=(source, seed, split, image_size, jpeg_quality, q), daemon=True)
            for seed, q in zip(seeds, self._queues, strict=True)
        ]
        for proc in self._procs:
            proc.start()
        self._next = 0
        self.produced = 0

    def take(self, n: int, timeout_s: float = 300.0) -> list[Example]:
        """The next ``n`` examples (round robin over the workers); blocks until they are rendered."""
        out: list[Example] = []
        while len(out) < n:
            q = self._queues[self._next % len(self._queues)]
            try:
                image, instruction, answer, object_map = q.get(timeout=timeout_s)
            except queue.Empty as exc:
                raise TimeoutError(f"simulator worker {self._next % len(self._queues)} gave nothing in {timeout_s} s") from exc
            if isinstance(image, str) and image == _STOP:
                raise RuntimeError(f"simulator worker stopped: {instruction}")
            out.append(Example(image=image, instruction=instruction, answer=answer, object_map=object_map))
            self._next += 1
        self.produced += n
        return out

    def close(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs:
            proc.join(timeout=5)

    def __enter__(self) -> StreamPrefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReplayPool:
    """The most recent ``capacity`` examples; batches drawn uniformly with a seeded generator."""

    def __init__(self, capacity: int, seed: int) -> None:
        if capacity <= 0:
            raise ValueError(f"ReplayPool: capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._items: list[Example] = []
        self._head = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, examples: Sequence[Example]) -> None:
        for example in examples:
            if len(self._items) < self.capacity:
                self._items.append(example)
            else:
                self._items[self._head] = example
                self._head = (self._head + 1) % self.capacity

    def sample(self, n: int) -> list[Example]:
        if not self._items:
            raise ValueError("ReplayPool.sample: the pool is empty")
        idx = self._rng.integers(0, len(self._items), size=n)
        return [self._items[i] for i in idx]

"""Batched prefill and resume in the verifier (real sockets, the tiny pair, ``step()`` driven by the test): OPENs
that are encoded and waiting are prefilled in ONE forward, the resumes among them resumed together in one more, each
answered OPENED, and every robot's output is the target's greedy output; an unbatched verifier prefills and resumes
them one forward at a time; with fused first rounds the fresh OPENs are prefilled in their first verification."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.conftest import MAX_NEW
from bridge.tiny_pair import PROMPTS
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.server import ServerConfig, VerifierServer
from spec_decode_ros.decoding.types import Prompt


def _run_opens(target, max_batch: int, references,
               fuse: bool = False) -> tuple[list[int], list[int], dict[str, list[int]]]:
    """Four robots send their OPENs (two resumes, with 3 and 5 committed tokens) while the loop is not reading;
    then the loop runs until each has its whole answer, autoregressively (one FINAL per token). Returns the batch
    size of every prefill forward and of every resume forward, and each robot's tokens."""
    server = VerifierServer(target, ServerConfig(bind="tcp://127.0.0.1:0", max_batch=max_batch, fuse_first_round=fuse))
    prefill_rows: list[int] = []
    resume_rows: list[int] = []

    def seen(module, args, kwargs) -> None:  # a prefill starts a cache; a resume feeds several tokens onto one
        cache, ids = kwargs.get("cache"), kwargs["input_ids"]
        if cache.get_seq_length() == 0:
            prefill_rows.append(int(ids.shape[0]))
        elif ids.shape[1] > 1:  # the autoregressive verifications feed one token per row
            resume_rows.append(int(ids.shape[0]))

    hook = target.model.model.register_forward_pre_hook(seen, with_kwargs=True)
    robots = {text: CloudClient(server.endpoint) for text in PROMPTS}
    got: dict[str, list[int]] = {}
    gate = threading.Event()
    server._encoder.submit(gate.wait, 30)  # the encodings queue behind this: all four become ready together
    try:
        for i, (text, robot) in enumerate(robots.items()):
            committed = tuple(references[text][: {1: 3, 3: 5}.get(i, 0)])
            robot.send(p.Open(session=f"s{i}", text=text, max_new_tokens=MAX_NEW, autoregressive=True,
                              committed=committed))
            got[text] = list(committed)
        deadline = time.monotonic() + 10
        while len(server._opening) < len(robots) and time.monotonic() < deadline:
            server.step(0.01)  # reads the four OPENs; their encodings wait on the worker
        gate.set()
        while not all(o.encoding.done() for o in server._opening.values()) and time.monotonic() < deadline:
            time.sleep(0.01)  # encoded: all four wait for their prefill now
        done: set[str] = set()
        deadline = time.monotonic() + 60
        while len(done) < len(robots) and time.monotonic() < deadline:
            server.step(0.01)
            for text, robot in robots.items():
                while robot.pending():
                    msg = robot.recv(0.1)
                    assert isinstance(msg, (p.Opened, p.Final)), msg
                    if isinstance(msg, p.Final):
                        got[text].append(msg.y)
                        if msg.finished or len(got[text]) >= MAX_NEW:
                            done.add(text)
        assert done == set(robots), got
    finally:
        hook.remove()
        for robot in robots.values():
            robot.close()
        server.close()
    return prefill_rows, resume_rows, got


@pytest.mark.timeout(50)  # under the loop's own 60 s: a stall ends in pytest-timeout's dump of every thread
@pytest.mark.parametrize("max_batch, fuse, prefills, resumes", [(8, False, [4], [2]), (1, False, [1, 1, 1, 1], [1, 1]),
                                                            (8, True, [1, 1, 2], [2])])
def test_waiting_opens_are_prefilled_and_resumed_in_one_forward_and_answer_as_the_target(
        target, references, max_batch, fuse, prefills, resumes):
    """Fused first rounds: the two resumes are prefilled together, each fresh OPEN in its first step's forward."""
    assert len({target.model.encode(Prompt(t)).length for t in PROMPTS}) > 1  # different lengths in one batch
    prefill_rows, resume_rows, got = _run_opens(target, max_batch, references, fuse)
    assert (sorted(prefill_rows), resume_rows) == (prefills, resumes)
    for text, tokens in got.items():
        assert tokens[:MAX_NEW] == references[text][:MAX_NEW], text

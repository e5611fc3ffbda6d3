"""The draft node's worker on its real thread: a request starts only with an instruction and an image, the
next waits for the previous answer's motion/done (then for a settled image, never past done_timeout_s),
heartbeats report the link between requests, and an unreachable cloud holds requests until a ping gets through."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from spec_decode_ros.control.draft_worker import DraftWorker
from spec_decode_ros.control.link_monitor import CONNECTED, UNREACHABLE, LinkUpdate
from spec_decode_ros.control.request_gate import RequestGate

WAIT_S = 10.0  # generous: conditions are waited on, never slept through


@dataclass
class Cloud:
    """A cloud connection whose pings answer as ``up`` says (the heartbeat's whole view of the cloud)."""

    up: bool = True
    pings: int = 0
    resets: int = 0
    slow: bool = False  # a PONG that takes the whole timeout (a long round trip)
    given_up: int = 0

    def ping(self, timeout_s: float = 1.0, *, give_up: Callable[[], bool] | None = None) -> bool | None:
        self.pings += 1
        deadline = time.monotonic() + (timeout_s if self.slow else 0.0)
        while time.monotonic() < deadline:
            if give_up is not None and give_up():
                self.given_up += 1
                return None
            time.sleep(0.001)
        return self.up

    def reset(self) -> None:
        self.resets += 1


@dataclass
class Recorder:
    """What the worker asked for: requests decoded and link updates, with a condition to wait on."""

    complete: bool = True
    requests: list[tuple[int, int, str]] = field(default_factory=list)
    links: list[LinkUpdate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def decode(self, request_id: int, image: int, instruction: str) -> bool:
        with self.cond:
            self.requests.append((request_id, image, instruction))
            self.cond.notify_all()
        return self.complete

    def link(self, update: LinkUpdate | None) -> None:
        with self.cond:
            if update is not None:
                self.links.append(update)
            self.cond.notify_all()

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def wait(self, what: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
        with self.cond:
            return self.cond.wait_for(what, timeout=timeout_s)


@contextmanager
def worker(rec: Recorder, cloud: Cloud | None, *, instruction: str = "go", settle_ns: int = 100,
           done_timeout_s: float = 30.0, heartbeat_s: float = 0.05) -> Iterator[DraftWorker[int]]:
    # images are their own stamps (ns): the test says when each was captured
    w: DraftWorker[int] = DraftWorker(decode=rec.decode, stamp_ns=lambda image: image, publish_link=rec.link,
                                      cloud=cloud, instruction=instruction, heartbeat_s=heartbeat_s,
                                      gate=RequestGate(settle_ns=settle_ns, done_timeout_s=done_timeout_s),
                                      warn=rec.warn)
    w.start()
    try:
        yield w
    finally:
        w.close()


def test_requests_wait_for_an_instruction_and_an_image_then_for_the_motion():
    rec = Recorder()
    with worker(rec, Cloud(), instruction="") as w:
        w.image(1_000)
        assert rec.wait(lambda: len(rec.links) >= 3)  # heartbeats go on, but no instruction: no request
        assert rec.requests == []
        w.new_instruction("  go to the red box ", now_ns=900)
        assert rec.wait(lambda: len(rec.requests) == 1)
        assert rec.requests[0] == (1, 1_000, "go to the red box")
        links_before = len(rec.links)
        assert rec.wait(lambda: len(rec.links) >= links_before + 3)  # answer 1 not executed yet: no request 2
        assert len(rec.requests) == 1
        w.done(1, now_ns=5_000)
        w.image(5_050)  # captured before the motion settled (settle 100 ns)
        assert rec.wait(lambda: len(rec.links) >= links_before + 6)
        assert len(rec.requests) == 1
        w.image(5_100)
        assert rec.wait(lambda: len(rec.requests) == 2)
        assert rec.requests[1] == (2, 5_100, "go to the red box")


def test_a_lost_motion_done_is_given_up_after_the_timeout_with_a_warning():
    rec = Recorder()
    with worker(rec, Cloud(), done_timeout_s=0.2) as w:
        w.image(1_000)
        assert rec.wait(lambda: len(rec.requests) >= 2)  # no done ever comes: the wait is given up
        assert rec.warnings and "request 1" in rec.warnings[0]


def test_an_incomplete_answer_does_not_wait_for_its_motion():
    rec = Recorder(complete=False)  # e.g. the cloud refused the request: there is nothing to execute
    with worker(rec, Cloud()) as w:
        w.image(1_000)
        assert rec.wait(lambda: len(rec.requests) >= 2)
        assert rec.warnings == []


def test_heartbeats_report_the_link_and_an_unreachable_cloud_holds_requests():
    rec, cloud = Recorder(), Cloud(up=False)
    with worker(rec, cloud) as w:
        w.image(1_000)
        assert rec.wait(lambda: len(rec.links) >= 3)
        assert all(u.state == UNREACHABLE for u in rec.links) and cloud.resets >= 3
        assert rec.requests == []  # no request while no ping gets through
        cloud.up = True
        assert rec.wait(lambda: len(rec.requests) == 1)
        assert rec.links[-1].state == CONNECTED and rec.links[-1].detail == "pong"


def test_a_heartbeat_in_flight_gives_way_to_a_request_that_can_start():
    """A ping waits up to its timeout (here 30 s) for its PONG; a frame that may be answered must not wait for it."""
    rec, cloud = Recorder(), Cloud(slow=True)
    with worker(rec, cloud, heartbeat_s=30.0) as w:
        assert rec.wait(lambda: cloud.pings >= 1)  # the first heartbeat is now waiting for its PONG
        w.image(1_000)
        assert rec.wait(lambda: len(rec.requests) == 1, timeout_s=10.0)  # well before the ping's 30 s
        assert cloud.given_up >= 1 and rec.links == []  # a ping given up reports nothing about the link


def test_without_a_cloud_the_link_is_reported_connected():
    rec = Recorder()
    with worker(rec, None) as w:
        w.image(1_000)
        assert rec.wait(lambda: len(rec.requests) == 1)
        assert rec.links[0].state == CONNECTED and "no cloud" in rec.links[0].detail


def test_close_stops_the_thread_while_it_waits():
    rec = Recorder()
    with worker(rec, Cloud(), instruction="", heartbeat_s=30.0) as w:
        assert rec.wait(lambda: len(rec.links) == 1)  # the first heartbeat, then a long wait
    assert not w.is_alive()


def test_a_hold_starts_no_request_until_released():
    rec = Recorder()
    with worker(rec, Cloud()) as w:
        w.hold("e-stop", True)
        w.image(1_000)
        assert rec.wait(lambda: len(rec.links) >= 3)  # heartbeats go on, but the e-stop holds requests
        assert rec.requests == []
        w.hold("lock", True)
        w.hold("e-stop", False)
        assert rec.wait(lambda: len(rec.links) >= 6)
        assert rec.requests == []  # the lock still holds
        w.hold("lock", False)
        assert rec.wait(lambda: len(rec.requests) == 1)


def test_an_answer_is_tied_to_its_instruction_by_id_not_text():
    current: list[bool] = []
    release = threading.Event()

    def decode(request_id: int, image: int, instruction: str) -> bool:
        current.append(w.answer_current())
        release.wait(WAIT_S)  # the answer is under way while the test gives the same instruction again
        current.append(w.answer_current())
        return False

    w: DraftWorker[int] = DraftWorker(decode=decode, stamp_ns=lambda image: image, publish_link=lambda _: None,
                                      cloud=Cloud(), instruction="go to the red box", heartbeat_s=0.05,
                                      gate=RequestGate(settle_ns=100, done_timeout_s=30.0))
    w.image(1_000)
    w.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not current and time.monotonic() < deadline:
            time.sleep(0.01)
        w.new_instruction("go to the red box", now_ns=2_000)  # same words: a new task all the same
        release.set()
        while len(current) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert current[:2] == [True, False]
    finally:
        release.set()
        w.close()

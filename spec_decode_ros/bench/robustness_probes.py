"""What the robustness benchmarks (``bench/hostile.py``, ``bench/soak.py``) measure with: honest robots, each a
process that loads the embedded draft and runs generations against one verifier until told to stop, recording every
round's DRAFT→FINAL time (with its wall-clock stamp), every output that differs from the target's greedy reference and
every error; readings of the verifier process (resident memory, its peak, CPU time); and a PING prober.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spec_decode_ros.bridge.security import ClientSecurity
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.types import Prompt


@dataclass
class RobotReport:
    """What one honest robot saw: ``rounds`` as (wall time at FINAL, DRAFT→FINAL seconds)."""

    robot: int
    runs: int = 0
    mismatches: int = 0
    errors: list[str] = field(default_factory=list)
    rounds: list[tuple[float, float]] = field(default_factory=list)


def references(target: str | Path, prompts: Sequence[Prompt], max_new_tokens: int) -> list[list[int]]:
    """The target's greedy outputs for ``prompts`` as the cloud receives them (image through JPEG)."""
    from spec_decode_ros.bench.workload import as_cloud_sees_it
    from spec_decode_ros.decoding.local import target_generate
    from spec_decode_ros.decoding.models import load_model

    model = load_model(target)
    return [target_generate(model, as_cloud_sees_it(pr), max_new_tokens) for pr in prompts]


def robot_main(index: int, endpoint: str, draft: str, prompts: Sequence[Prompt], refs: Sequence[Sequence[int]],
               stop_file: str, ready: Any, results: Any, *, gamma: int = 4, max_new_tokens: int = 24,
               pause_s: float = 0.2, security: ClientSecurity | None = None) -> None:
    """Process entry point: warm up, signal ``ready``, then generate (prompts in turn, ``pause_s`` between
    answers, as the robot waits for its command to run) until ``stop_file`` exists; the report goes to ``results``.
    ``security``: the robot's CURVE keys, for a cloud run with ``--keys``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from spec_decode_ros.bridge.client import CloudClient
    from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession, RoundEvent
    from spec_decode_ros.decoding.models import load_model

    report = RobotReport(robot=index)
    model = load_model(draft)
    client = CloudClient(endpoint, security=security)
    cfg = EdgeConfig(mode=Mode.SD_EE_PREDRAFT, gamma=gamma, max_new_tokens=max_new_tokens, reply_timeout_s=10.0,
                     reconnect_timeout_s=30.0)
    on_round = None

    def record(event: RoundEvent) -> None:
        report.rounds.append((time.time(), event.final_s))

    try:
        EdgeSession(client, model, prompts[0], cfg).run()  # warm-up, untimed
        ready.put(index)
        k = index
        on_round = record
        while not os.path.exists(stop_file):
            i = k % len(prompts)
            k += 1
            try:
                result = EdgeSession(client, model, prompts[i], cfg, on_round=on_round).run()
            except Exception as e:  # counted, and the robot carries on like the draft node would
                report.errors.append(f"{type(e).__name__}: {e}"[:300])
                client.reset()
                continue
            report.runs += 1
            report.mismatches += result.tokens != list(refs[i])
            time.sleep(pause_s)
    except Exception as e:
        report.errors.append(f"fatal {type(e).__name__}: {e}"[:300])
        ready.put(index)
    finally:
        client.close()
        results.put(report)


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` now."""
    return _status_kb(pid, "VmRSS") * 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> bool:
    """Reset ``pid``'s peak resident memory (VmHWM) so that a later ``peak_rss_bytes`` covers what came after;
    False where the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes(pid: int) -> int:
    return _status_kb(pid, "VmHWM") * 1024


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


class PingProber:
    """A thread that PINGs the verifier on its own connection every ``interval_s`` and records each PONG's
    delay (a missing PONG counts as ``timeout_s``); ``security``: its CURVE keys, for a cloud run with ``--keys``."""

    def __init__(self, endpoint: str, interval_s: float = 0.02, timeout_s: float = 2.0,
                 security: ClientSecurity | None = None) -> None:
        self.endpoint = endpoint
        self.security = security
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.delays: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PingProber:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        from spec_decode_ros.bridge.client import CloudClient

        client = CloudClient(self.endpoint, security=self.security)
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                ok = client.ping(self.timeout_s)
                self.delays.append(time.perf_counter() - t0 if ok else self.timeout_s)
                self._stop.wait(self.interval_s)
        finally:
            client.close()


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

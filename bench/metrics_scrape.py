"""The metrics endpoint against the robots' own counts (issue 25): ``spec-decode cloud --model embedded
--metrics-port P``, then the same with ``--replicas 2`` (scraped at the front, one series per replica). Four robots
(embedded draft, sd_ee_predraft, γ=4, 24 tokens, one thread each in this process) generate for ``--seconds``; each
also sends one malformed frame per answer on a socket of its own and counts the ERRORs it gets back. Then one
scrape: committed tokens, rounds and errors summed over the endpoint's series must equal the robots' sums.

    .venv/bin/python bench/metrics_scrape.py --json bench/results/metrics_scrape.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from prometheus_client.parser import text_string_to_metric_families

from spec_decode_ros.bench.cloud_process import CloudProcess, free_endpoint
from spec_decode_ros.bench.workload import sim_prompts
from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeResult, EdgeSession
from spec_decode_ros.decoding.image_size import processor_image_size
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.models import load_model
from spec_decode_ros.decoding.types import Prompt, SpecMetrics
from spec_decode_ros.embedded import default_draft_path
from spec_decode_ros.process_group import free_port

SUMMED = ("spec_decode_rounds_total", "spec_decode_committed_tokens_total", "spec_decode_errors_total",
          "spec_decode_front_errors_total", "spec_decode_opens_total", "spec_decode_sessions_open",
          "spec_decode_replicas_alive", "spec_decode_verify_forward_seconds_count", "spec_decode_batch_rows_sum")
RATIOS = ("spec_decode_acceptance_rate", "spec_decode_early_hit_rate")  # one value per verifier, never summed


@dataclass
class RobotCounts:
    answers: list[EdgeResult] = field(default_factory=list)
    errors_received: int = 0  # ERRORs answering its malformed frames
    robot_errors: int = 0  # answers that failed

    def as_dict(self) -> dict[str, int]:
        """What the scrape is held to, read from the answers' own metrics: rounds, and committed tokens (the
        accepted ones and one per round)."""
        metrics = SpecMetrics()
        for answer in self.answers:
            metrics = metrics.merge(answer.metrics)
        return {"answers": len(self.answers), "rounds": metrics.num_drafts,
                "committed": metrics.num_accepted_tokens + metrics.num_drafts,
                "tokens_out": sum(len(answer.tokens) for answer in self.answers),
                "errors_received": self.errors_received, "robot_errors": self.robot_errors}


def robot(index: int, endpoint: str, prompts: Sequence[Prompt], until: float, counts: RobotCounts) -> None:
    draft = load_model(default_draft_path())
    client = CloudClient(endpoint)
    bad = zmq.Context.instance().socket(zmq.DEALER)
    bad.linger = 0
    bad.connect(endpoint)
    cfg = EdgeConfig(mode=Mode.SD_EE_PREDRAFT, gamma=4, max_new_tokens=24, reply_timeout_s=30.0)
    k = index
    while time.monotonic() < until:
        try:
            result = EdgeSession(client, draft, prompts[k % len(prompts)], cfg).run()
        except Exception:
            counts.robot_errors += 1
            continue
        k += 1
        counts.answers.append(result)
        bad.send(b"\xc1 not msgpack")
        if bad.poll(10_000) and isinstance(p.decode(bad.recv()), p.Error):
            counts.errors_received += 1
    client.close()
    bad.close(0)


def scrape(url: str) -> tuple[str, dict[str, float], dict[str, list[float]]]:
    """The exposition, the SUMMED series summed over labels (replicas, codes), the RATIOS per verifier."""
    with urllib.request.urlopen(url, timeout=30) as reply:
        text = reply.read().decode()
    sums: dict[str, float] = {}
    ratios: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in SUMMED:
                sums[s.name] = sums.get(s.name, 0.0) + s.value
            elif s.name in RATIOS:
                ratios.setdefault(s.name, []).append(round(s.value, 4))
    return text, sums, ratios


def run(extra: list[str], seconds: float, robots: int, log: Path) -> dict[str, object]:
    port = free_port()
    endpoint = free_endpoint()
    with CloudProcess("embedded", endpoint, "--metrics-port", str(port), *extra, log=log):
        draft = load_model(default_draft_path())
        prompts = sim_prompts(8, processor_image_size(draft.processor))
        counts = [RobotCounts() for _ in range(robots)]
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=robot, args=(i, endpoint, prompts, until, counts[i])) for i in range(robots)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1.0)  # the robots' last CLOSEs
        text, sums, ratios = scrape(f"http://127.0.0.1:{port}/metrics")
    per_robot = [c.as_dict() for c in counts]
    robots_sum = {k: sum(c[k] for c in per_robot) for k in per_robot[0]}
    scraped_errors = sums.get("spec_decode_errors_total", 0.0) + sums.get("spec_decode_front_errors_total", 0.0)
    agree = {"rounds": sums.get("spec_decode_rounds_total") == robots_sum["rounds"],
             "committed_tokens": sums.get("spec_decode_committed_tokens_total") == robots_sum["committed"],
             "errors": scraped_errors == robots_sum["errors_received"]}
    excerpt = [line for line in text.splitlines() if line.startswith(("spec_decode_rounds_total",
               "spec_decode_committed_tokens_total", "spec_decode_errors_total", "spec_decode_front_errors_total",
               "spec_decode_replicas_alive", "spec_decode_acceptance_rate", "spec_decode_sessions_open"))]
    return {"cloud_args": extra, "robots": robots, "seconds": seconds, "robots_sum": robots_sum,
            "per_robot": per_robot, "scrape_sums": sums, "scrape_ratios": ratios, "agree": agree, "scrape_excerpt": excerpt}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--robots", type=int, default=4)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    out: dict[str, object] = {"machine": "2 CPU cores shared with other jobs", "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (("single", []), ("replicas_2", ["--replicas", "2"])):
            res = run(extra, args.seconds, args.robots, Path(tmp) / f"{name}.log")
            out[name] = res
            print(f"{name}: robots {res['robots_sum']}\n  scrape {res['scrape_sums']} {res['scrape_ratios']}\n"
                  f"  agree {res['agree']}",
                  flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0 if all(all(out[n]["agree"].values()) for n in ("single", "replicas_2")) else 1  # type: ignore[index]


if __name__ == "__main__":
    sys.exit(main())

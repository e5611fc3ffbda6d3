"""What a benchmark robot does, in its own process: load the draft, run generations in the given modes over
the link, and report per-run figures (tokens, latency, acceptance, early hits, the cloud's busy time).

Functions here are process entry points (``spawn``), so every argument is plain picklable data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from spec_decode_ros.analysis.stats import mean_or_none, percentile
from spec_decode_ros.control.command_timing import command_times, text_deltas
from spec_decode_ros.decoding.types import Prompt

PROMPTS = (
    "A robot dog stands in a room with a red box ahead and a blue ball on its left. In one sentence, what "
    "should it do to reach the box?",
    "Give the robot one short command to walk forward two meters and then turn right.",
    "The robot sees a door far ahead and a chair near it on the right. Describe a safe path in one sentence.",
    "List three things a quadruped robot should check before it starts walking.",
    "Explain in two sentences why a robot should stop when it cannot see the path.",
    "The green ball is behind the robot. Which way should it turn, and how far?",
    "Write a short instruction that makes a robot dog sit down and wait.",
    "What should a walking robot do when a person steps in front of it?",
)


@dataclass(frozen=True)
class Phase:
    """One measured stretch: a cloud (through its link) and whether this robot takes part."""

    name: str
    link_endpoint: str  # through the emulated link
    cloud_endpoint: str  # direct, for STATS only (outside the timed runs)
    active: bool = True


@dataclass(frozen=True)
class RobotJob:
    """One robot process: which prompts, in which modes, over which phases, on which CPU."""

    draft: str
    phases: tuple[Phase, ...]
    prompts: tuple[Prompt, ...]
    modes: tuple[str, ...]  # mode names; "MODE+grammar": that mode with the command grammar as a constraint
    gamma: int = 4
    max_new_tokens: int = 32
    reply_timeout_s: float = 120.0
    cpu: int | None = None
    threads: int = 1
    reference_target: str | None = None  # compute target_generate references here (untimed)
    warmup: bool = True  # one untimed run per mode before the first active phase (no other robot may be running)
    robot_index: int = 0
    emulate_draft_ms: float = 0.0  # each drafted token takes at least this long (0: the real draft's speed)
    auto_objective: str = "balanced"  # mode auto's (decoding.mode_choice.OBJECTIVES)
    dtype: str = "float32"  # the draft's and the reference target's (decoding.precision names)
    device: str = "cpu"


@dataclass
class RunRecord:
    mode: str
    prompt: int
    tokens: list[int]
    latency_s: float
    first_token_s: float
    metrics: dict[str, Any]
    server_busy_s: float
    server_tokens: int
    identical: bool | None = None
    statuses: list[str] = field(default_factory=list)
    first_command_s: float | None = None  # request start -> the streaming parser's first complete command
    answer_s: float | None = None  # -> its last command (None: the answer holds no command)
    chosen_mode: str = ""  # the mode the answer ran (mode auto: the one it picked)
    gamma: int = 0
    explore: bool = False  # mode auto: an exploring answer
    why: str = ""  # mode auto: why this mode
    chooser_predicted_s: float | None = None  # mode auto: the chooser's own prediction of this answer's time
    estimates: dict[str, float | None] = field(default_factory=dict)  # mode auto: what the choice rested on
    first_command_tokens: int | None = None  # tokens committed when the first command was complete
    last_command_tokens: int | None = None  # ... when the last one was
    rounds: list[dict[str, Any]] = field(default_factory=list)  # the answer's RoundEvents


@dataclass
class Answer:
    """One answer as run: its configuration, auto's choice (None: a fixed mode), its rounds, result, command times."""

    config: Any  # EdgeConfig
    choice: Any  # decoding.mode_choice.Choice | None
    rounds: list[Any]  # RoundEvent
    result: Any  # EdgeResult
    times: Any  # CommandTimes | None

    def command_tokens(self) -> tuple[int | None, int | None]:
        """Tokens up to the first and up to the last complete command (None: no command)."""
        from spec_decode_ros.bridge.auto_mode import tokens_until

        if self.times is None:
            return None, None
        return (tokens_until(self.result.token_times, self.times.first_command_s),
                tokens_until(self.result.token_times, self.times.answer_s))

    def choice_fields(self) -> dict[str, Any]:
        if self.choice is None:
            return {}
        predicted = self.choice.predicted(self.choice.mode)
        return {"explore": self.choice.explore, "why": self.choice.why, "estimates": dict(self.choice.estimates),
                "chooser_predicted_s": predicted.answer_s if predicted is not None else None}


GRAMMAR_SUFFIX = "+grammar"


def split_mode(key: str) -> tuple[str, str]:
    """A run's mode key -> (mode name, constrain): "sd+grammar" -> ("sd", "grammar"), "sd" -> ("sd", "none")."""
    return (key.removesuffix(GRAMMAR_SUFFIX), "grammar") if key.endswith(GRAMMAR_SUFFIX) else (key, "none")


def text_prompts(n: int) -> tuple[Prompt, ...]:
    return tuple(Prompt(t) for t in PROMPTS[:n])


def sim_prompts(n: int, image_size: int, seed: int = 12345) -> tuple[Prompt, ...]:
    """Camera images and instructions from the simulated Go2 world (held-out split), for VLM pairs."""
    from spec_decode_ros.embedded.data import take_examples

    return tuple(Prompt(e.instruction, image=e.image) for e in take_examples(seed, "heldout", n, image_size))


def as_cloud_sees_it(prompt: Prompt, quality: int = 90) -> Prompt:
    """The prompt after the wire: the image JPEG-encoded and decoded, as the cloud's target receives it."""
    if prompt.image is None:
        return prompt
    from spec_decode_ros.bridge.images import decode_jpeg, encode_jpeg

    return Prompt(prompt.text, image=decode_jpeg(encode_jpeg(prompt.image, quality)), system=prompt.system)


def _setup(job: RobotJob) -> None:
    if job.cpu is not None:
        os.sched_setaffinity(0, {job.cpu})
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(job.threads)


def run_robot(job: RobotJob, ready: Any = None, go: Sequence[Any] = (), results: Any = None) -> list[dict[str, Any]]:
    """Run every (prompt, mode) of ``job`` in each phase, modes interleaved per prompt (their order rotated).

    Per phase, every robot (active or not) passes the ``ready`` barrier after its warm-up, then an active one
    waits for ``go[phase]`` and runs; so the robots of a phase start together and the parent can reset the
    cloud's counters in between. Each active phase's result goes to ``results`` (a queue) and the list."""
    _setup(job)
    from spec_decode_ros.bench.emulation import paced_drafts
    from spec_decode_ros.bench.mode_check import predictions
    from spec_decode_ros.bridge.auto_mode import AutoMode
    from spec_decode_ros.bridge.client import CloudClient
    from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession, RoundEvent
    from spec_decode_ros.decoding.mode import AUTO, Mode
    from spec_decode_ros.decoding.models import load_model
    from spec_decode_ros.decoding.predraft import PredraftPolicy

    draft = load_model(job.draft, dtype=job.dtype, device=job.device)
    new_draft = paced_drafts(job.emulate_draft_ms / 1000.0)
    policies: dict[str, PredraftPolicy] = {}  # per mode, carried from answer to answer as on a robot
    references: dict[str, list[list[int]]] = {}  # by constrain: the target's (constrained) greedy outputs
    if job.reference_target is not None:
        from spec_decode_ros.decoding.local import target_generate

        target = load_model(job.reference_target, dtype=job.dtype, device=job.device)
        for constrain in sorted({split_mode(m)[1] for m in job.modes}):
            references[constrain] = [target_generate(target, as_cloud_sees_it(pr), job.max_new_tokens,
                                                     constrain=constrain) for pr in job.prompts]
        del target

    autos: dict[str, AutoMode] = {}  # mode auto: one chooser per constraint, for the robot's life

    def one(phase: Phase, stats: CloudClient, key: str, prompt: Prompt) -> tuple[Any, float, int, Answer]:
        mode, constrain = split_mode(key)
        choice = None
        cfg = EdgeConfig(mode=Mode.SD_EE_PREDRAFT if mode == AUTO else mode, gamma=job.gamma,
                         max_new_tokens=job.max_new_tokens, reply_timeout_s=job.reply_timeout_s, constrain=constrain)
        if mode == AUTO:
            cfg, choice = autos.setdefault(key, AutoMode(cfg, objective=job.auto_objective)).next()
        client = CloudClient(phase.link_endpoint) if cfg.mode.needs_cloud else None
        rounds: list[RoundEvent] = []
        before = stats.stats(30.0)
        result = EdgeSession(client, draft, prompt, cfg, new_draft=new_draft, on_round=rounds.append,
                             predraft_policy=policies.setdefault(f"{cfg.mode.value}/{constrain}",
                                                                 PredraftPolicy())).run()
        if client is not None:
            client.close()
        after = stats.stats(30.0)
        times = command_times(text_deltas(decode, result.tokens), result.token_times, result.latency_s)
        answer = Answer(cfg, choice, rounds, result, times)
        if choice is not None:
            autos[key].record(choice, rounds, result, times.first_command_s if times else None)
        return result, after.busy_s - before.busy_s, after.tokens - before.tokens, answer

    def decode(ids: list[int]) -> str:
        return draft.tokenizer.decode(ids, skip_special_tokens=True)

    from spec_decode_ros.decoding.draft import DraftSession

    DraftSession(draft, job.prompts[0]).draft(job.gamma)  # first forwards are slow: not in a timed run
    out: list[dict[str, Any]] = []
    warm = not job.warmup
    for k, phase in enumerate(job.phases):
        stats = CloudClient(phase.cloud_endpoint)
        if phase.active and not warm:  # every mode once, on the first phase this robot runs
            warm = True
            for mode in job.modes:
                one(phase, stats, mode, job.prompts[0])
            for key in (k for k in job.modes if split_mode(k)[0] == AUTO):  # auto: its warm-up answers, as a
                while autos[key].warming_up():                                # robot's first ones
                    one(phase, stats, key, job.prompts[0])
        if ready is not None:
            ready.wait()
        if not phase.active:
            stats.close()
            continue
        if k < len(go):
            go[k].wait()
        t0 = time.monotonic()
        records: list[dict[str, Any]] = []
        for i, prompt in enumerate(job.prompts):
            for mode in rotated(job.modes, i):  # each mode after each other one, not always after the same
                result, busy, server_tokens, answer = one(phase, stats, mode, prompt)
                identical = (result.tokens == references[split_mode(mode)[1]][i]) if references else None
                times = answer.times
                first_tokens, last_tokens = answer.command_tokens()
                records.append(asdict(RunRecord(
                    mode=mode, prompt=i, tokens=result.tokens, latency_s=result.latency_s,
                    first_token_s=result.first_token_s, metrics=result.metrics.as_dict(), server_busy_s=busy,
                    server_tokens=server_tokens, identical=identical, statuses=[s for _, s in result.statuses],
                    first_command_s=times.first_command_s if times else None,
                    answer_s=times.answer_s if times else None, chosen_mode=answer.config.mode.value,
                    gamma=answer.config.gamma if answer.config.mode.speculative else 0,
                    first_command_tokens=first_tokens, last_command_tokens=last_tokens,
                    rounds=[asdict(e) for e in answer.rounds], **answer.choice_fields())))
        for record, predicted in zip(records, predictions(records), strict=True):
            record.update(predicted)
        stats.close()
        res = {"records": records, "references": references.get("none", references.get("grammar", [])),
               "references_by_constrain": references, "wall_s": time.monotonic() - t0,
               "robot": job.robot_index, "phase": phase.name}
        if results is not None:
            results.put(res)
        out.append(res)
    return out


def rotated(items: Sequence[str], by: int) -> list[str]:
    """``items`` started ``by`` places on (prompt i runs the modes from the i-th on): what ran just before a mode's
    answer (a session closing, a cache freed) falls on every mode alike."""
    k = by % len(items) if items else 0
    return [*items[k:], *items[:k]]


def robot_process_main(job: RobotJob, ready: Any, go: Sequence[Any], results: Any) -> None:
    """multiprocessing target: run_robot; the error, if any, onto ``results`` (and the barrier broken)."""
    try:
        run_robot(job, ready, go, results)
    except Exception as e:  # reported by the parent, with the robot's index
        import traceback

        ready.abort()  # do not leave the parent (and the other robots) waiting for a dead robot
        results.put({"robot": job.robot_index, "error": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"})


def summarize(records: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    """One mode's figures over all its runs (the JSON fields the issue names, and a few more)."""
    runs = [r for r in records if r["mode"] == mode]
    tokens = sum(len(r["tokens"]) for r in runs)
    latency = sum(r["latency_s"] for r in runs)
    drafts = sum(r["metrics"]["num_drafts"] for r in runs)
    drafted = sum(r["metrics"]["num_draft_tokens"] for r in runs)
    accepted = sum(r["metrics"]["num_accepted_tokens"] for r in runs)
    hits = sum(r["metrics"]["early_exit_hits"] for r in runs)
    misses = sum(r["metrics"]["early_exit_misses"] for r in runs)
    busy = sum(r["server_busy_s"] for r in runs)
    rounds = sum(r["metrics"]["target_forward_passes"] for r in runs)
    identical = [r["identical"] for r in runs if r["identical"] is not None]
    first_command = [r["first_command_s"] for r in runs if r.get("first_command_s") is not None]
    answer = [r["answer_s"] for r in runs if r.get("answer_s") is not None]
    return {
        "runs": len(runs),
        "tokens": tokens,
        "latency_s": latency / len(runs) if runs else 0.0,
        "total_latency_s": latency,
        "ms_per_token": 1000.0 * latency / tokens if tokens else 0.0,
        "first_token_s": sum(r["first_token_s"] for r in runs) / len(runs) if runs else 0.0,
        "acceptance_rate": accepted / drafted if drafted else 0.0,
        "mean_acceptance_length": 1.0 + accepted / drafts if drafts else 0.0,
        "early_hit_rate": hits / (hits + misses) if hits + misses else 0.0,
        "early_exits": hits + misses,
        "server_busy_s": busy,
        "server_busy_s_per_token": busy / tokens if tokens else 0.0,
        "draft_busy_s_per_token": sum(r["metrics"]["draft_busy_s"] for r in runs) / tokens if tokens else 0.0,
        "rounds": rounds,
        "ms_per_round": 1000.0 * latency / rounds if rounds else 0.0,
        "server_busy_ms_per_round": 1000.0 * busy / rounds if rounds else 0.0,
        "identical_to_target": sum(identical) / len(identical) if identical else None,
        # what the robot feels (VLM pairs with --sim-prompts: only runs whose answer parses into commands)
        "answers_with_commands": len(first_command),
        "first_command_s": mean_or_none(first_command),
        "first_command_s_p95": percentile(first_command, 0.95) if first_command else None,
        "answer_s": mean_or_none(answer),
        "answer_s_p95": percentile(answer, 0.95) if answer else None,
        "rounds_per_answer": rounds / len(runs) if runs else 0.0,
        **_predicted(runs, tokens),
    }


def _predicted(runs: list[dict[str, Any]], tokens: int) -> dict[str, Any]:
    """The cost model's figures beside the measured ones (from the run's own estimates), and, for mode auto,
    which modes it picked and how many answers explored."""
    def mean(key: str) -> float | None:
        return mean_or_none([r[key] for r in runs if r.get(key) is not None])

    latency = [r["predicted_latency_s"] for r in runs if r.get("predicted_latency_s") is not None]
    chosen: dict[str, int] = {}
    for r in runs:
        key = f"{r.get('chosen_mode', r['mode'])}/{r.get('gamma', 0)}"
        chosen[key] = chosen.get(key, 0) + 1
    return {"predicted_ms_per_token": 1000.0 * sum(latency) / tokens if latency and len(latency) == len(runs) and tokens
            else None,
            "predicted_first_command_s": mean("predicted_first_command_s"), "predicted_answer_s": mean("predicted_answer_s"),
            "chosen": chosen, "explore_answers": sum(bool(r.get("explore")) for r in runs)}



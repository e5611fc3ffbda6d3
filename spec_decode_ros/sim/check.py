"""Figures of the simulator itself: the expert's closed-loop success on held-out episodes and the data
generation speed of ``sample_stream`` (with its answer mix). ``python -m spec_decode_ros.sim.check``."""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter

from tqdm import tqdm

from spec_decode_ros.sim.dataset import sample_stream
from spec_decode_ros.sim.episode import expert_policy, run_episode
from spec_decode_ros.sim.world import Go2World, random_layout


def expert_success(episodes: int, size: int, first_seed: int = 0) -> dict[str, float]:
    """Run the expert as the policy on held-out episodes; success rate, mean steps, mean final distance."""
    with Go2World(random_layout(0), width=size, height=size) as world:
        policy = expert_policy(world)
        results = [run_episode(seed, policy, world=world, width=size, height=size)
                   for seed in tqdm(range(first_seed, first_seed + episodes), desc="expert episodes", unit="ep")]
    return {
        "episodes": episodes,
        "success_rate": sum(r.success for r in results) / episodes,
        "mean_steps": sum(r.n_steps for r in results) / episodes,
        "mean_final_distance_m": sum(r.final_distance for r in results) / episodes,
    }


def data_speed(samples: int, size: int, seed: int = 0) -> tuple[float, Counter[str]]:
    """Samples per second of one ``sample_stream`` (this process, one core) and its answer counts."""
    stream = sample_stream(seed, width=size, height=size)
    next(stream)  # world construction is not part of the rate
    answers: Counter[str] = Counter()
    start = time.perf_counter()
    for sample in tqdm(itertools.islice(stream, samples), total=samples, desc="samples", unit="sample"):
        answers[sample.answer] += 1
    rate = samples / (time.perf_counter() - start)
    stream.close()
    return rate, answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spec_decode_ros.sim.check", description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64, help="square camera image side (px)")
    args = parser.parse_args(argv)
    expert = expert_success(args.episodes, args.size)
    rate, answers = data_speed(args.samples, args.size)
    print(f"expert on {expert['episodes']} held-out episodes: success {expert['success_rate']:.1%}, "
          f"mean steps {expert['mean_steps']:.2f}, mean final distance {expert['mean_final_distance_m']:.3f} m")
    print(f"sample_stream at {args.size}x{args.size}: {rate:.1f} samples/s (one process); "
          f"{len(answers)} distinct answers in {args.samples}")
    for answer, n in answers.most_common(12):
        print(f"  {n / args.samples:6.1%}  {answer}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

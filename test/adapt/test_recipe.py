"""The recipe of docs/your-vlm.md, end to end on tiny random VLMs (Qwen2-VL, Idefics3/SmolVLM): a bag of 20
simulated camera frames with instructions (recorded as the recorder writes them), ``spec-decode make-draft``,
``spec-decode train-adapters`` on the bag, ``spec-decode cloud`` serving the target with its exits, and one robot
answer (a held-out frame, speculative decoding with early exits and pre-drafting over ZeroMQ) equal to the
target's greedy output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from decoding.tiny_models import SEEDS, build_idefics3, build_qwen2_vl
from support.frames_bag import write_frames_bag

from spec_decode_ros import cli
from spec_decode_ros.adapt.frames import frames_from_bag
from spec_decode_ros.bench.cloud_process import CloudProcess, free_endpoint
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession
from spec_decode_ros.bridge.images import decode_jpeg, encode_jpeg
from spec_decode_ros.decoding.local import target_generate
from spec_decode_ros.decoding.models import load_model
from spec_decode_ros.decoding.types import Prompt

pytestmark = pytest.mark.slow  # MuJoCo frames, training, a verifier process

NEW_TOKENS = 12
FAMILIES = {"qwen2_vl": build_qwen2_vl, "idefics3": build_idefics3}


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, said = write_frames_bag(tmp_path_factory.mktemp("recorded") / "frames", frames=20)
    assert len(said) == 20
    return path


@pytest.mark.timeout(150)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_your_vlm_pair_in_four_commands(family: str, bag: Path, tmp_path: Path):
    target = FAMILIES[family](tmp_path / "target", seed=SEEDS[family])
    draft, served = tmp_path / "draft", tmp_path / "served"
    common = ["--from-bag", str(bag), "--new-tokens", str(NEW_TOKENS), "--threads", "1", "--device", "cpu",
              "--dtype", "float32"]

    assert cli.main(["make-draft", str(target), "--layers", "2", "--out", str(draft), "--steps", "40", "--lr", "3e-3",
                     *common]) == 0
    made = json.loads((draft / "derivation.json").read_text())
    assert made["heldout_sequences"] == 4 and made["speculative_equals_target"] is True
    assert made["heldout_top1_agreement_distilled"] > made["heldout_top1_agreement_derived"]
    assert made["acceptance_rate_distilled"] > made["acceptance_rate_derived"]

    report = tmp_path / "exits.json"
    assert cli.main(["train-adapters", str(target), "--layers", "2", "--steps", "60", "--out", str(served),
                     "--json", str(report), *common]) == 0
    exits = json.loads(report.read_text())
    assert exits["frames"] == 20 and exits["heldout_sequences"] == 4
    assert exits["agreement_trained"]["2"] > exits["agreement_identity"]["2"]

    frame = frames_from_bag(bag).frames[0]  # held out of both trainings
    seen = decode_jpeg(encode_jpeg(frame.image, 90))  # what the verifier sees: the robot sends JPEG
    greedy = target_generate(load_model(target), Prompt(frame.instruction, seen), NEW_TOKENS)
    log = tmp_path / "cloud.log"
    cloud = CloudProcess(served, free_endpoint(), log=log).start()
    try:
        client = CloudClient(cloud.endpoint)
        try:
            config = EdgeConfig(mode="sd_ee_predraft", gamma=4, max_new_tokens=NEW_TOKENS, reply_timeout_s=20.0)
            answer = EdgeSession(client, load_model(draft), Prompt(frame.instruction, frame.image), config).run()
        finally:
            client.close()
    finally:
        cloud.stop()
    assert "(exit layers [2])" in log.read_text()
    assert answer.tokens == greedy
    assert answer.metrics.num_accepted_tokens > 0  # the distilled draft's tokens were accepted
    assert answer.metrics.early_exit_hits + answer.metrics.early_exit_misses > 0  # the trained exit spoke


@pytest.mark.timeout(90)
def test_a_target_without_exits_says_so_at_start(tmp_path: Path):
    target = build_qwen2_vl(tmp_path / "target", seed=SEEDS["qwen2_vl"])
    log = tmp_path / "cloud.log"
    CloudProcess(target, free_endpoint(), log=log).start().stop()
    lines = log.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "(exit layers [])" in line)
    assert "has no exit adapters" in lines[start + 1] and "spec-decode train-adapters" in lines[start + 1]

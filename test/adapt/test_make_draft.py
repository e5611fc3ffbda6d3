"""``spec-decode make-draft`` from a smaller sibling (its tokenizer must be the target's) and its one-line
refusals; ``train-adapters`` refuses frames for a text model. Every refusal is exit code 2 before training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from decoding.tiny_models import build_llama, build_qwen2_vl
from support.frames_bag import write_bag
from transformers import AutoTokenizer

from spec_decode_ros import cli
from spec_decode_ros.decoding.models import load_model


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    other = build_llama(root / "other-vocab", layers=1, seed=2)
    tok = AutoTokenizer.from_pretrained(other)
    tok.add_tokens(["zebra"])
    tok.save_pretrained(other)
    prompts = root / "prompts.txt"
    prompts.write_text("go to the red box\nturn left\nwhere is the ball\nstop\nwalk forward two meters\n")
    return {"target": build_llama(root / "target", layers=4, seed=0), "sibling": build_llama(root / "sibling", layers=1, seed=1),
            "other": other, "vlm": build_qwen2_vl(root / "vlm", seed=3), "prompts": prompts}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_sibling_with_the_targets_tokenizer_is_distilled_into_a_draft(folders: dict[str, Path], tmp_path: Path):
    out = tmp_path / "draft"
    assert cli.main(["make-draft", str(folders["target"]), "--from-sibling", str(folders["sibling"]), "--out", str(out),
                     "--prompts", str(folders["prompts"]), "--new-tokens", "10", "--steps", "30", "--lr", "3e-3",
                     "--threads", "1", "--device", "cpu", "--dtype", "float32"]) == 0
    report = json.loads((out / "derivation.json").read_text())
    assert report["derived_from"].endswith("sibling") and report["source"] == "text"
    assert report["speculative_equals_target"] is True
    assert report["heldout_top1_agreement_distilled"] > report["heldout_top1_agreement_derived"]
    draft = load_model(out)
    assert draft.num_layers == 1 and draft.tokenizer.get_vocab() == load_model(folders["target"]).tokenizer.get_vocab()


@pytest.mark.parametrize(("argv", "message"), [
    (["--from-sibling", "{other}"], "does not share the target's tokenizer"),
    (["--from-sibling", "{vlm}"], "does not share the target's tokenizer (or is not a text model like it)"),
    (["--layers", "4"], "--layers must be in 1..3 (the target has 4)"),
    (["--layers", "2", "--from-bag", "{bag}"], "is a text model: distil it on --prompts, not on camera frames"),
])
def test_make_draft_refuses_in_one_line(folders: dict[str, Path], tmp_path: Path, argv: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]):
    bag = write_bag(tmp_path / "bag", [("walk", [np.zeros((16, 16, 3), np.uint8)] * 2)])
    names = {k: str(v) for k, v in folders.items()} | {"bag": str(bag)}
    out = tmp_path / "draft"
    code = cli.main(["make-draft", names["target"], *[a.format(**names) for a in argv], "--out", str(out),
                     "--prompts", names["prompts"], "--new-tokens", "4", "--steps", "0"])
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("spec-decode")]
    assert code == 2 and len(said) == 1 and message in said[0]
    assert not out.exists()


def test_train_adapters_refuses_frames_for_a_text_model(folders: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]):
    bag = write_bag(tmp_path / "bag", [("walk", [np.zeros((16, 16, 3), np.uint8)] * 2)])
    code = cli.main(["train-adapters", str(folders["target"]), "--from-bag", str(bag), "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "is a text model: train it on --prompts, not on camera frames" in err
    code = cli.main(["train-adapters", str(folders["target"]), "--from-bag", str(tmp_path / "nope")])
    assert code == 2 and "bag" in capsys.readouterr().err


def test_the_target_answers_the_frames_under_the_robots_system_prompt(folders: dict[str, Path]):
    from spec_decode_ros.adapt import frames, train_exits
    from spec_decode_ros.decoding.types import Prompt

    model = load_model(folders["vlm"])
    shots = [frames.Frame(np.full((16, 16, 3), 40 * i, np.uint8), "go to the red box", str(i)) for i in range(2)]
    plain = train_exits.build_parser().parse_args([str(folders["vlm"]), "--new-tokens", "3", "--from-bag", "bag"])
    told = train_exits.build_parser().parse_args([str(folders["vlm"]), "--new-tokens", "3", "--from-bag", "bag",
                                                  "--system-prompt", "you are a robot dog"])
    corpus, _ = train_exits.training_corpus(model, shots, told)
    bare, _ = train_exits.training_corpus(model, shots, plain)
    system = Prompt("go to the red box", shots[0].image, "you are a robot dog")
    assert corpus[0].answer_start == model.encode(system).length > bare[0].answer_start
    assert corpus[0].ids[: corpus[0].answer_start].equal(model.encode(system).input_ids[0])


def test_exits_are_not_written_beside_another_model(folders: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]):
    from spec_decode_ros.adapt.folders import link_model

    served = link_model(folders["target"], tmp_path / "served")
    assert (served / "config.json").resolve() == (folders["target"] / "config.json").resolve()
    assert link_model(folders["target"], served) == served  # again: the same model, nothing to do
    code = cli.main(["train-adapters", str(folders["sibling"]), "--out", str(served), "--steps", "1",
                     "--prompts", str(folders["prompts"]), "--new-tokens", "2"])
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("spec-decode")]
    assert code == 2 and len(said) == 1 and "already holds another model" in said[0]
    assert not (served / "exit_adapters.safetensors").exists()

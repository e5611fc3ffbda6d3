"""``spec-decode train`` and ``spec-decode eval`` end to end, at toy sizes (a few steps, few examples)."""

from __future__ import annotations

import json

import pytest
from transformers import LlavaForConditionalGeneration

from spec_decode_ros.decoding.adapters import ExitAdapters
from spec_decode_ros.decoding.image_size import saved_image_size
from spec_decode_ros.embedded import DRAFT_NAME, TARGET_NAME
from spec_decode_ros.embedded import evaluate as evaluate_cli
from spec_decode_ros.embedded import train as train_cli
from spec_decode_ros.sim.margins import STATE_KINDS

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def test_train_then_eval_writes_and_measures_a_complete_pair(tmp_path, capsys):
    rc = train_cli.main(["--out", str(tmp_path), "--target-steps", "2", "--draft-steps", "2", "--adapter-steps", "5",
                         "--adapter-examples", "16", "--batch-size", "8", "--heldout", "8", "--warm-pool", "16",
                         "--new-per-step", "4", "--eval-every", "2", "--target-spec", "text_layers=2,vision_hidden=64,image_size=64"])
    assert rc == 0
    capsys.readouterr()
    target, draft = tmp_path / TARGET_NAME, tmp_path / DRAFT_NAME
    assert isinstance(LlavaForConditionalGeneration.from_pretrained(target), LlavaForConditionalGeneration)
    assert ExitAdapters.exists(target) and (draft / "model.safetensors").is_file()
    meta = json.loads((target / "training.json").read_text())
    assert meta["report"]["steps"] == 2 and meta["spec"]["image_size"] == 64
    assert meta["spec"]["text_layers"] == 2 and meta["spec"]["vision_hidden"] == 64  # --target-spec overrides
    assert saved_image_size(target, default=0) == 64  # the demo renders at the processor's size
    draft_meta = json.loads((draft / "training.json").read_text())
    assert draft_meta["spec"]["image_size"] == 64 and saved_image_size(draft, default=0) == 64  # follows the target

    assert train_cli.main(["--out", str(tmp_path), "--stages", "draft", "--draft-spec", "image_size=32"]) == 2
    assert "draft image size 32 != target's 64" in capsys.readouterr().err

    more = tmp_path / "more"  # --init-target: the same target trained further, its history kept
    rc = train_cli.main(["--out", str(more), "--stages", "target", "--init-target", str(target), "--target-steps", "1",
                         "--batch-size", "8", "--heldout", "8", "--warm-pool", "16", "--new-per-step", "4",
                         "--clear-keep", "0.5", "--lr", "3e-4"])
    assert rc == 0
    meta2 = json.loads((more / TARGET_NAME / "training.json").read_text())
    assert meta2["spec"] == meta["spec"] and meta2["report"]["steps"] == 1
    assert [run["report"]["steps"] for run in meta2["previous_runs"]] == [2]
    assert meta2["options"]["clear_keep"] == 0.5 and meta2["options"]["init_target"] == f".../{tmp_path.name}/{TARGET_NAME}"
    assert meta2["previous_runs"][0]["options"]["lr"] == 2e-3  # each run's options kept for the recipe
    capsys.readouterr()

    rc = evaluate_cli.main(["--target", str(target), "--draft", str(draft), "--n", "8", "--n-spec", "2",
                            "--episodes", "1", "--first-episode", "3", "--render-size", "80", "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{\n"):])
    assert report["target_accuracy"]["n"] == 8
    assert report["target"] == f".../{tmp_path.name}/{TARGET_NAME}"  # no absolute path in the report
    low, high = report["target_accuracy"]["interval_95"]
    assert low <= report["target_accuracy"]["exact_match"] <= high
    assert report["render_size"] == 80  # a camera larger than the 64 px model: the processor resizes
    assert report["closed_loop"]["first_seed"] == 3
    by_state = report["target_accuracy"]["by_state"]  # the error breakdown by the expert's thresholds
    assert set(by_state) <= set(STATE_KINDS) and sum(row["n"] for row in by_state.values()) == 8
    assert report["speculative"]["outputs_differing_from_target"] == 0
    assert report["speculative"]["exit_layers"] == [1]  # the middle of the 2-layer target
    assert 0.0 <= report["closed_loop"]["success_rate"] <= 1.0


def test_train_rejects_unknown_stages_and_eval_a_missing_model(tmp_path, capsys):
    assert train_cli.main(["--out", str(tmp_path), "--stages", "target,dessert"]) == 2
    assert "dessert" in capsys.readouterr().err
    assert train_cli.main(["--out", str(tmp_path), "--stages", "draft"]) == 1
    assert train_cli.main(["--out", str(tmp_path), "--init-target", str(tmp_path), "--target-spec", "text_layers=2"]) == 2
    assert "only change image_size" in capsys.readouterr().err
    assert train_cli.main(["--out", str(tmp_path), "--stages", "target", "--init-target", str(tmp_path / "none")]) == 2
    assert "is not a target saved by spec-decode train" in capsys.readouterr().err
    for bad in ("0", "1.5", "half"):
        with pytest.raises(SystemExit):
            train_cli.main(["--out", str(tmp_path), "--clear-keep", bad])
        assert "--clear-keep" in capsys.readouterr().err
    for bad in ("text_layerz=2", "text_layers=two", "text_layers"):
        with pytest.raises(SystemExit):
            train_cli.main(["--out", str(tmp_path), "--target-spec", bad])
        assert "--target-spec" in capsys.readouterr().err
    assert evaluate_cli.main(["--target", str(tmp_path / "nothing"), "--draft", str(tmp_path / "nothing")]) == 1
    assert "config.json" in capsys.readouterr().err

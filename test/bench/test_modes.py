"""spec-decode bench end to end on the tiny pair: separate processes, every mode, the issue's JSON fields."""

from __future__ import annotations

import json

import pytest

from spec_decode_ros.bench import modes as bench
from spec_decode_ros.decoding.mode import MODES

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training

FIELDS = ("tokens", "latency_s", "ms_per_token", "acceptance_rate", "mean_acceptance_length", "early_hit_rate",
          "server_busy_s_per_token", "identical_to_target")


def test_bench_runs_every_mode_and_writes_the_json(target_dir, tmp_path, capsys):
    """In bfloat16 (the cloud process, the robot's draft and its reference target): still identical to the target."""
    out = tmp_path / "bench.json"
    assert bench.main(["--target", str(target_dir), "--draft-layers", "2", "--prompts", "1", "--max-new-tokens", "8",
                       "--rtt-ms", "10", "--dtype", "bfloat16", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["modes"]) == set(MODES)
    for mode, m in result["modes"].items():
        assert all(f in m for f in FIELDS), mode
        assert m["tokens"] > 0 and m["ms_per_token"] > 0
        if mode != "edge_only":
            assert m["identical_to_target"] == 1.0, mode
            assert m["server_busy_s_per_token"] > 0, mode
    assert result["modes"]["edge_only"]["server_busy_s_per_token"] == 0
    assert result["modes"]["sd"]["mean_acceptance_length"] > 1
    assert result["modes"]["sd_ee_predraft"]["early_hit_rate"] > 0
    assert result["config"]["rtt_ms"] == 10 and result["config"]["dtype"] == "bfloat16"
    assert result["config"]["target"] == f".../{target_dir.parent.name}/target"  # no absolute path in results
    assert "speed-up vs cloud_ar" in capsys.readouterr().out


def test_bench_many_robots_compares_batched_and_unbatched(target_dir, tmp_path):
    out = tmp_path / "robots.json"
    assert bench.main(["--target", str(target_dir), "--draft-layers", "2", "--prompts", "1", "--max-new-tokens", "6",
                       "--rtt-ms", "10", "--robots", "1,2", "--max-wait-ms", "20", "--json", str(out)]) == 0
    robots = json.loads(out.read_text())["robots"]
    for name in ("batched", "unbatched"):
        r = robots[name]["2"]
        assert r["robots"] == 2 and r["tokens"] > 0 and r["throughput_tok_s"] > 0
        assert 0 <= robots[name]["capacity"] <= 2
    assert robots["unbatched"]["2"]["server_rows_per_forward"] == 1.0
    assert robots["batched"]["2"]["server_rows_per_forward"] >= 1.0
    assert set(robots["throughput_gain"]) == {"1", "2"}


def test_bench_refuses_bad_arguments(target_dir, capsys):
    assert bench.main(["--target", str(target_dir)]) == 2
    assert "--draft" in capsys.readouterr().err
    assert bench.main(["--target", str(target_dir), "--draft-layers", "2", "--robot-cpu", "64"]) == 2


def test_bench_reports_when_the_robot_gets_its_first_command(tmp_path, capsys):
    """The shipped Go2 pair on simulator prompts: every answer parses, so each mode has first_command_s and
    answer_s, ordered as the stream is (first token <= first command <= last command <= whole generation)."""
    from pathlib import Path

    models = Path(bench.__file__).resolve().parents[1] / "assets" / "models"
    out = tmp_path / "first_command.json"
    assert bench.main(["--target", str(models / "go2-vlm-target"), "--draft", str(models / "go2-vlm-draft"),
                       "--sim-prompts", "--prompts", "2", "--modes", "cloud_ar,sd_ee_predraft", "--rtt-ms", "10",
                       "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for mode, m in result["modes"].items():
        assert m["identical_to_target"] == 1.0, mode
        assert m["answers_with_commands"] == 2, mode
        assert m["first_token_s"] <= m["first_command_s"] <= m["answer_s"] <= m["latency_s"] + 1e-9, mode
        assert m["first_command_s_p95"] >= m["first_command_s"] - 1e-9 and m["rounds_per_answer"] >= 1, mode
    assert "first command vs cloud_ar" in capsys.readouterr().out


@pytest.mark.timeout(300)
def test_bench_mode_auto_is_lossless_and_says_what_it_picked(tmp_path, capsys):
    """--modes ...,auto on the shipped Go2 pair: auto's answers are the target's, each record names the mode and γ it
    ran and why, its warm-up answers ran before the timed ones, and every mode has the cost model's prediction."""
    from pathlib import Path

    models = Path(bench.__file__).resolve().parents[1] / "assets" / "models"
    out = tmp_path / "auto.json"
    assert bench.main(["--target", str(models / "go2-vlm-target"), "--draft", str(models / "go2-vlm-draft"),
                       "--sim-prompts", "--prompts", "2", "--modes", "cloud_ar,sd,auto", "--rtt-ms", "20",
                       "--emulate-forward-ms", "10", "--auto-objective", "first_command", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["auto_objective"] == "first_command"
    auto = result["modes"]["auto"]
    assert auto["identical_to_target"] == 1.0 and auto["answers_with_commands"] == 2
    order = [(r["prompt"], r["mode"]) for r in result["runs"]]  # the modes' order rotates from prompt to prompt
    assert order == [(0, "cloud_ar"), (0, "sd"), (0, "auto"), (1, "sd"), (1, "auto"), (1, "cloud_ar")]
    runs = [r for r in result["runs"] if r["mode"] == "auto"]
    assert all(r["chosen_mode"] in ("cloud_ar", "sd", "sd_ee", "sd_ee_predraft") and r["why"] for r in runs)
    assert all(not r["explore"] for r in runs)  # the warm-up ran untimed; 2 answers are within the exploration bound
    assert all(r["rounds"] and r["estimates"]["rtt_s"] is not None for r in runs)
    for mode in ("cloud_ar", "sd", "auto"):
        m = result["modes"][mode]
        assert m["predicted_ms_per_token"] > 0 and m["predicted_first_command_s"] > 0, mode
    out_text = capsys.readouterr().out
    assert "auto chose" in out_text and "cost model / measured" in out_text

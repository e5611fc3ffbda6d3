"""spec-decode bench end to end on the tiny pair: separate processes, every mode, the issue's JSON fields."""

from __future__ import annotations

import json

import pytest

from spec_decode_ros.bridge import bench
from spec_decode_ros.bridge.edge import MODES

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

"""``spec-decode fleet-bench``: its command-line and JSON contract on a tiny sweep, and clear errors on bad input."""

from __future__ import annotations

import json

import pytest

from spec_decode_ros import cli
from spec_decode_ros.bench import fleet as bench


def test_fleet_bench_is_a_registered_subcommand():
    assert cli.SUBCOMMANDS["fleet-bench"][0] == "spec_decode_ros.bench.fleet"


@pytest.mark.parametrize("argv", [["--robots", "0"], ["--robots", "a,b"], ["--replicas", "0"],
                                  ["--modes", "fast"], ["--answers", "0"]])
def test_bad_options_exit_2_with_a_message(tmp_path, capsys, argv):
    assert bench.main([*argv, "--json", str(tmp_path / "x.json")]) == 2
    assert "spec-decode fleet-bench:" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_tiny_sweep_writes_the_contracted_json_and_plot(tmp_path):
    out = tmp_path / "fleet.json"
    assert cli.main(["fleet-bench", "--robots", "1,2", "--replicas", "1", "--prompts", "2", "--answers", "1",
                     "--a-ms", "5", "--b-ms", "0.1", "--rtt-ms", "10", "--draft-ms", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {"runs", "capacity", "config"} <= set(result)
    runs = result["runs"]
    assert sorted((r["robots"], r["batched"], r["replicas"]) for r in runs) == [
        (1, False, 1), (1, True, 1), (2, False, 1), (2, True, 1)]
    for r in runs:
        for key in ("throughput_tok_s", "ms_per_token_p50", "ms_per_token_p95", "rows_per_forward"):
            assert r[key] > 0
        assert r["identical_to_target"] == 1.0 and not r["errors"]
    assert {(c["batched"], c["replicas"]) for c in result["capacity"]} == {(False, 1), (True, 1)}
    assert all(set(c) == {"batched", "replicas", "robots"} for c in result["capacity"])
    assert result["config"]["a_ms"] == 5 and result["config"]["b_ms"] == 0.1
    assert out.with_suffix(".png").stat().st_size > 10_000

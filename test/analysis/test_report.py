"""The report turns a bag into the hop latencies it contains, compares bags, and draws its plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rclpy.serialization import serialize_message
from support.loop_messages import HOP_MS, TIMELINE_MS, loop_trace

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import BagWriter
from spec_decode_ros.analysis.report import build_report, main


def write_trace_bag(path: Path, requests: int = 3) -> Path:
    writer = BagWriter(path, topics.TYPES)
    for i, (topic, msg) in enumerate(loop_trace(requests)):
        writer.write(topic, 1_000 + i, serialize_message(msg))
    writer.close()
    return path


def test_report_recovers_hop_latencies_and_decoding_figures(tmp_path: Path):
    bag = write_trace_bag(tmp_path / "run")
    content = build_report([bag], tmp_path / "out")
    figures = content["bags"]["run"]["figures"]
    for hop, ms in HOP_MS.items():
        assert figures[f"{hop}_ms_median"] == pytest.approx(ms, abs=0.01), hop
    assert figures["requests"] == 3 and figures["tokens"] == 15
    assert figures["acceptance_rate"] == pytest.approx(3 / 8)
    assert figures["mean_acceptance_length"] == pytest.approx(1 + 3 / 2)
    assert figures["early_hit_rate"] == pytest.approx(0.5)
    assert figures["tokens_per_s"] == pytest.approx(5 / 0.150)
    for plot in content["plots"]:
        assert Path(plot).stat().st_size > 5_000
    assert json.loads((tmp_path / "out" / "report.json").read_text())["bags"]["run"]["mode"] == "sd_ee_predraft"


def test_report_shows_the_first_command_timeline(tmp_path: Path):
    out = tmp_path / "out"
    content = build_report([write_trace_bag(tmp_path / "run")], out)
    figures = json.loads((out / "report.json").read_text())["bags"]["run"]["figures"]
    for segment, ms in TIMELINE_MS.items():
        assert figures[f"first_command_{segment}_ms_median"] == pytest.approx(ms, abs=0.01), segment
    assert figures["first_command_requests"] == 3
    assert figures["first_command_sum_ms"] == pytest.approx(HOP_MS["capture_to_move"], abs=0.05)
    assert figures["first_command_capture_to_move_ms_median"] == pytest.approx(HOP_MS["capture_to_move"], abs=0.01)
    assert figures["first_command_sum_of_means_ms"] == pytest.approx(125.0, abs=0.05)
    text = (out / "report.txt").read_text()
    assert "first command timeline" in text and content["first_command_table"] in text
    row = next(line for line in text.splitlines() if line.startswith("cloud: verification forward"))
    assert row.split()[-1] == "20"
    plot = out / "first_command_timeline.png"
    assert str(plot) in content["plots"] and plot.stat().st_size > 5_000
    page = (out / "report.html").read_text()
    assert "First command timeline" in page and 'src="first_command_timeline.png"' in page


def test_report_compares_bags_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    a = write_trace_bag(tmp_path / "a", requests=2)
    b = write_trace_bag(tmp_path / "b", requests=4)
    assert main([str(a), str(b), "--labels", "cloud,edge", "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "cloud [sd_ee_predraft]" in header and "edge [sd_ee_predraft]" in header
    requests_row = next(line for line in out.splitlines() if line.startswith("requests"))
    assert requests_row.split()[1:] == ["2", "4"]


def test_report_rejects_a_missing_bag(tmp_path: Path):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope")])

"""Results name paths relative to the repository or the output folder: ``portable_path``, and no committed result,
report or doc carries an absolute path of the machine that produced it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spec_decode_ros.paths import REPO_ROOT, portable_path

# where results, reports and docs lie, and what they are
SCANNED = ("bench", "docs", "spec_decode_ros", "config", "scripts", "requirements")
SUFFIXES = {".json", ".txt", ".md", ".csv", ".yaml", ".yml", ".sh", ".jinja"}
# an absolute path into a machine's own folders (system paths such as /usr/include in install steps are fine)
ABSOLUTE = re.compile(r"(?<![\w.])(/(work|tmp|root|home|Users|mnt|scratch|private|var/folders)/|~/)")


def _result_files() -> list[Path]:
    files = [p for p in REPO_ROOT.glob("*.md")]
    for folder in SCANNED:
        files += [p for p in (REPO_ROOT / folder).rglob("*") if p.suffix in SUFFIXES and p.is_file()
                  and "__pycache__" not in p.parts]
    return sorted(files)


def test_portable_path_is_relative_to_the_repository_or_the_output_folder(tmp_path):
    assert portable_path(REPO_ROOT / "spec_decode_ros" / "assets") == "spec_decode_ros/assets"
    assert portable_path("spec_decode_ros/assets/models/go2-vlm-target") == "spec_decode_ros/assets/models/go2-vlm-target"
    assert portable_path("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"  # a hub id stays as it is
    assert portable_path(tmp_path / "runs" / "a" / "model", base=tmp_path / "runs") == "a/model"
    outside = portable_path(tmp_path / "elsewhere" / "model", base=tmp_path / "runs")
    assert outside == ".../elsewhere/model" and not ABSOLUTE.search(outside)


def test_the_scan_finds_the_results_and_flags_absolute_paths():
    names = {p.relative_to(REPO_ROOT).as_posix() for p in _result_files()}
    assert "spec_decode_ros/assets/models/go2-vlm-target/eval.json" in names
    assert any(n.startswith("bench/results/") for n in names) and "README.md" in names
    assert ABSOLUTE.search('"target": "/home/someone/checkout/.models/smollm2-135m"')
    assert ABSOLUTE.search("--out /tmp/a") and ABSOLUTE.search("see ~/runs")
    assert not ABSOLUTE.search('"target": ".models/smollm2-135m"') and not ABSOLUTE.search("ln -s /usr/include p")


@pytest.mark.parametrize("path", _result_files(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_no_committed_result_report_or_doc_names_an_absolute_path(path: Path):
    hits = [f"{n}: {line.strip()[:120]}" for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
            if ABSOLUTE.search(line)]
    assert not hits, "absolute paths (write them relative to the repository or the output folder):\n" + "\n".join(hits)

"""spec-decode train-adapters on a tiny model (agreement improves, files saved, the target loads them), then
bench-local on the result (prints the side-by-side table; every output lossless)."""

from __future__ import annotations

import json
import shutil

from spec_decode_ros.adapt import train_exits
from spec_decode_ros.bench import in_process as bench
from spec_decode_ros.decoding.derive import truncated_copy
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.models import load_model


def test_train_adapters_then_bench_local(model_dirs, tmp_path, capsys):
    folder = tmp_path / "target"
    shutil.copytree(model_dirs["llama"], folder)
    report = tmp_path / "agree.json"
    assert train_exits.main([str(folder), "--layers", "2", "--steps", "40", "--new-tokens", "12",
                                  "--json", str(report), "--threads", "1"]) == 0
    data = json.loads(report.read_text())
    assert data["agreement_trained"]["2"] > data["agreement_identity"]["2"]
    assert data["saved"] == f".../{tmp_path.name}/target"  # outside the repository: where it lay is not written
    assert (folder / "exit_adapters.safetensors").is_file()
    target = EarlyExitTarget.from_pretrained(folder)
    assert target.exit_layers == (2,)

    draft_dir = tmp_path / "draft"
    draft = truncated_copy(load_model(folder), 1)
    draft.model.save_pretrained(draft_dir)
    draft.tokenizer.save_pretrained(draft_dir)
    out = tmp_path / "bench.json"
    code = bench.main(["--target", str(folder), "--draft", str(draft_dir), "--gammas", "1,3", "--prompts", "2",
                       "--max-new-tokens", "6", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert (result["target"], result["draft"], result["dtype"]) == ("target", "draft", "float32")  # beside the JSON
    rows = result["rows"]
    modes = [r["mode"] for r in rows]
    assert "spec+exit+predraft γ=3" in modes and all(r["lossless"] is not False for r in rows)
    peer = next(r for r in rows if r["mode"] == "transformers assisted γ=3")  # the peer's tokens were compared
    assert peer["lossless"] is True and peer["tokens"] > 0
    printed = capsys.readouterr().out
    printed = printed[printed.index("\ntarget "):]  # bench-local's table
    assert "ms/token" in printed and "float32 on cpu" in printed and str(tmp_path) not in printed

"""The commands on tiny models: train-adapters (agreement improves, files saved, target loads them)
and bench-local (prints the side-by-side table, every output lossless)."""

from __future__ import annotations

import json
import shutil

from spec_decode_ros.decoding import adapter_training, bench, zoo
from spec_decode_ros.decoding.derive import truncated_copy
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.models import load_model


def test_train_adapters_then_bench_local(model_dirs, tmp_path, capsys):
    folder = tmp_path / "target"
    shutil.copytree(model_dirs["llama"], folder)
    report = tmp_path / "agree.json"
    assert adapter_training.main([str(folder), "--layers", "2", "--steps", "40", "--new-tokens", "12",
                                  "--json", str(report), "--threads", "1"]) == 0
    data = json.loads(report.read_text())
    assert data["agreement_trained"]["2"] > data["agreement_identity"]["2"]
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
    rows = json.loads(out.read_text())["rows"]
    modes = [r["mode"] for r in rows]
    assert "spec+exit+predraft γ=3" in modes and all(r["lossless"] is not False for r in rows)
    assert "tok/s" in capsys.readouterr().out


def test_models_list_and_missing_models(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPEC_DECODE_MODELS", str(tmp_path))
    assert zoo.smollm2_target_path() == tmp_path / "smollm2-135m"
    assert zoo.main(["list"]) == 0
    assert "missing" in capsys.readouterr().out
    assert bench.main([]) == 2  # clear message instead of a traceback when nothing is built
    assert "spec-decode models build" in capsys.readouterr().err

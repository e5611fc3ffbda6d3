"""spec-decode models: paths follow $SPEC_DECODE_MODELS; list reports what is built; bench-local says what
to build instead of failing with a traceback. (Building SmolLM2 itself takes minutes: not a unit test.)"""

from __future__ import annotations

from spec_decode_ros.bench import in_process as bench
from spec_decode_ros.decoding import zoo


def test_models_list_and_missing_models(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPEC_DECODE_MODELS", str(tmp_path))
    assert zoo.smollm2_target_path() == tmp_path / "smollm2-135m"
    assert zoo.main(["list"]) == 0
    assert "missing" in capsys.readouterr().out
    assert bench.main([]) == 2  # clear message instead of a traceback when nothing is built
    assert "spec-decode models build" in capsys.readouterr().err

"""A model named on a command line or node parameter: "embedded" is the shipped pair, else a folder or a
Hugging Face model id (``decoding.hub``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_decode_ros.decoding.hub import ModelNotFoundError
from spec_decode_ros.embedded import default_draft_path, default_target_path, model_path


def test_embedded_names_the_shipped_model_of_the_role_and_a_folder_stands_for_itself(tmp_path: Path):
    assert model_path("embedded", "draft") == default_draft_path() != default_target_path()
    assert model_path("embedded", "target") == default_target_path()
    assert model_path(tmp_path, "draft") == tmp_path


def test_a_missing_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="draft model .*neither a model folder nor a Hugging Face model id"):
        model_path(tmp_path / "nope", "draft")

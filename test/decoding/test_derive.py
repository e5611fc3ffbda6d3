"""truncated_copy: the first k layers of a model as a draft."""

from __future__ import annotations

import pytest

from spec_decode_ros.decoding.derive import truncated_copy
from spec_decode_ros.decoding.models import load_model


def test_truncated_copy_and_load_errors(pairs, tmp_path):
    model = pairs["llama"].model
    small = truncated_copy(model, 1)
    assert small.num_layers == 1 and model.num_layers == 4
    assert small.model.config.num_hidden_layers == 1
    with pytest.raises(ValueError, match="num_layers"):
        truncated_copy(model, 9)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nothing")

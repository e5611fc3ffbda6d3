"""The processor's working image size, from a loaded processor and from a saved folder (both layouts)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from spec_decode_ros.decoding.image_size import processor_image_size, saved_image_size, side_of


def test_side_of_reads_each_hf_spelling_and_rejects_the_rest():
    assert side_of({"height": 96, "width": 96}) == 96
    assert side_of({"shortest_edge": 384}) == 384
    assert side_of({"longest_edge": 512}) == 512
    assert side_of({}) is None
    assert side_of(224) is None


def test_the_shipped_target_loads_at_its_saved_size():
    from spec_decode_ros.decoding.models import load_model
    from spec_decode_ros.embedded import default_target_path

    folder = default_target_path()
    loaded = load_model(folder)
    vision_size = loaded.model.config.vision_config.image_size  # 128 for the shipped pair
    assert processor_image_size(loaded.processor) == saved_image_size(folder) == vision_size  # a SizeDict
    assert saved_image_size(folder, default=0) == vision_size  # read from the saved processor, not defaulted


def test_a_loaded_processor_falls_back_to_crop_size_then_the_default():
    assert processor_image_size(SimpleNamespace(image_processor=SimpleNamespace(size={"height": 64}))) == 64
    crop_only = SimpleNamespace(image_processor=SimpleNamespace(size=None, crop_size={"height": 336}))
    assert processor_image_size(crop_only) == 336
    assert processor_image_size(SimpleNamespace(), default=7) == 7


def test_a_saved_folder_is_read_in_both_transformers_layouts(tmp_path):
    assert saved_image_size(tmp_path, default=5) == 5
    (tmp_path / "processor_config.json").write_text(json.dumps({"image_processor": {"size": {"height": 80}}}))
    assert saved_image_size(tmp_path) == 80
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"size": {"shortest_edge": 120}}))
    assert saved_image_size(tmp_path) == 120  # the older layout wins when both are there

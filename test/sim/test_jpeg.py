"""JPEG round trip of camera frames."""

from __future__ import annotations

import numpy as np
import pytest

from spec_decode_ros.sim.jpeg import decode_jpeg, encode_jpeg, jpeg_round_trip


def test_round_trip_keeps_size_and_content():
    rng = np.random.default_rng(0)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (200, 30, 30)
    image[:, 32:] = (20, 40, 220)
    data = encode_jpeg(image, 80)
    assert data[:2] == b"\xff\xd8"
    back = decode_jpeg(data)
    assert back.shape == image.shape and np.abs(back.astype(int) - image.astype(int)).mean() < 6
    assert jpeg_round_trip(image, None) is image
    noisy = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    assert not np.array_equal(jpeg_round_trip(noisy, 50), noisy)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="uint8 RGB"):
        encode_jpeg(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(np.zeros((4, 4, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="not a decodable JPEG"):
        decode_jpeg(b"not a jpeg")

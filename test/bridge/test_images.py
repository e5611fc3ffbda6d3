"""JPEG size checks before decoding: the SOF header's declared size is read and bounded first."""

from __future__ import annotations

import numpy as np
import pytest

from spec_decode_ros.bridge import images
from spec_decode_ros.bridge.protocol import ErrorCode, ProtocolError


def _jpeg(width: int = 40, height: int = 30, progressive: bool = False) -> bytes:
    import cv2

    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    assert ok
    return buf.tobytes()


def declare(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its SOF header claiming another size (what an attacker sends)."""
    data = bytearray(jpeg)
    pos = 2
    while data[pos + 1] not in images._SOF:
        pos += 2 + int.from_bytes(data[pos + 2: pos + 4], "big")
    data[pos + 5: pos + 7] = height.to_bytes(2, "big")
    data[pos + 7: pos + 9] = width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize("progressive", [False, True])
def test_declared_size_is_read_from_the_header(progressive):
    data = _jpeg(40, 30, progressive)
    assert images.jpeg_size(data) == (40, 30)
    assert images.decode_jpeg(data).shape == (30, 40, 3)


@pytest.mark.parametrize(("w", "h"), [(16000, 16000), (images.MAX_SIDE + 1, 8), (2600, 1700), (0, 10)])
def test_huge_declared_size_is_refused_before_decoding(monkeypatch, w, h):
    decoded = []
    monkeypatch.setattr(images.cv2, "imdecode", lambda *a: decoded.append(a))  # must never be reached
    with pytest.raises(ProtocolError, match="declares") as e:
        images.decode_jpeg(declare(_jpeg(), w, h))
    assert e.value.code is ErrorCode.BAD_IMAGE and not decoded


def test_a_header_that_lies_within_the_bounds_decodes_to_no_more_than_it_declares():
    assert images.decode_jpeg(declare(_jpeg(40, 30), 400, 300)).shape == (300, 400, 3)  # libjpeg fills the rest


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xda\x00\x02", b"\xff\xd8\x00\x00",
                                  b"\xff\xd8\xff\xe0\x00\x01", b"\xff\xd8\xff\xc0\x00\x11\x08", b"PNG..."])
def test_broken_headers_are_bad_image(data):
    with pytest.raises(ProtocolError) as e:
        images.decode_jpeg(data)
    assert e.value.code is ErrorCode.BAD_IMAGE

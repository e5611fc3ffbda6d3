"""Images on the wire: RGB uint8 arrays ⇄ JPEG bytes (OpenCV), with clear errors for bad input.

A JPEG's declared size is read from its header (the SOF marker) and checked before anything is decoded,
so a small file that declares a huge picture costs a header walk, not its pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from spec_decode_ros.bridge.protocol import ErrorCode, ProtocolError

MAX_SIDE = 4096
MAX_PIXELS = 4096 * 1024  # 4 MP (2560×1600); decoding it costs 12 MB, its RGB copy 12 MB more

# start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic), all but DHT/JPG/DAC
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """RGB [H, W, 3] uint8 → JPEG bytes."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be an H×W×3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return buf.tobytes()


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) a JPEG declares in its SOF header, walking the marker segments before the scan;
    ``ProtocolError(BAD_IMAGE)`` when there is no well-formed SOF before the first scan."""
    if not data.startswith(b"\xff\xd8"):
        raise ProtocolError(ErrorCode.BAD_IMAGE, "image_jpeg does not start with the JPEG marker FF D8")
    pos, n = 2, len(data)
    while pos + 1 < n:
        if data[pos] != 0xFF:
            raise ProtocolError(ErrorCode.BAD_IMAGE, f"image_jpeg has no JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        pos += 2
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header came first
            break
        if pos + 2 > n:
            break
        length = int.from_bytes(data[pos: pos + 2], "big")
        if length < 2:
            raise ProtocolError(ErrorCode.BAD_IMAGE, f"image_jpeg has a marker segment of length {length}")
        if marker in _SOF:
            if length < 8 or pos + 7 > n:
                break
            height = int.from_bytes(data[pos + 3: pos + 5], "big")
            width = int.from_bytes(data[pos + 5: pos + 7], "big")
            return width, height
        pos += length
    raise ProtocolError(ErrorCode.BAD_IMAGE, "image_jpeg has no frame header (SOF) before its scan")


def check_jpeg_size(data: bytes) -> tuple[int, int]:
    """``jpeg_size``, refused with BAD_IMAGE when it is empty or over ``MAX_SIDE`` / ``MAX_PIXELS``."""
    width, height = jpeg_size(data)
    if not 0 < width <= MAX_SIDE or not 0 < height <= MAX_SIDE or width * height > MAX_PIXELS:
        raise ProtocolError(ErrorCode.BAD_IMAGE, f"image declares {width}×{height} pixels; at most {MAX_SIDE} a side "
                            f"and {MAX_PIXELS} in all (checked before decoding)")
    return width, height


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes → RGB [H, W, 3] uint8; ``ProtocolError(BAD_IMAGE)`` for anything that is not a sane JPEG.
    The declared size is checked first (``check_jpeg_size``); the decoded one must match it."""
    width, height = check_jpeg_size(data)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise ProtocolError(ErrorCode.BAD_IMAGE, f"image_jpeg ({len(data)} bytes) does not decode as JPEG")
    if bgr.shape[:2] != (height, width):
        raise ProtocolError(ErrorCode.BAD_IMAGE, f"image decoded to {bgr.shape[1]}×{bgr.shape[0]}, its header "
                            f"declares {width}×{height}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

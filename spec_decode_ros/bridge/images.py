"""Images on the wire: RGB uint8 arrays ⇄ JPEG bytes (OpenCV), with clear errors for bad input."""

from __future__ import annotations

import cv2
import numpy as np

from spec_decode_ros.bridge.protocol import ErrorCode, ProtocolError

MAX_SIDE = 4096


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """RGB [H, W, 3] uint8 → JPEG bytes."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be an H×W×3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes → RGB [H, W, 3] uint8; ``ProtocolError(BAD_IMAGE)`` for anything that is not a sane JPEG."""
    if not data.startswith(b"\xff\xd8"):
        raise ProtocolError(ErrorCode.BAD_IMAGE, "image_jpeg does not start with the JPEG marker FF D8")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ProtocolError(ErrorCode.BAD_IMAGE, f"image_jpeg ({len(data)} bytes) does not decode as JPEG")
    if max(bgr.shape[:2]) > MAX_SIDE:
        raise ProtocolError(ErrorCode.BAD_IMAGE, f"image of {bgr.shape[1]}×{bgr.shape[0]} exceeds {MAX_SIDE} pixels")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

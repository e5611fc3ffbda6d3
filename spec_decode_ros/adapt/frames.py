"""Training frames: the lab's own camera frames with the instruction the robot had for each.

From a recorded bag (``--from-bag``: the camera as the recorder stores it, ``camera/image_raw/compressed`` JPEG,
or raw ``camera/image_raw``; each frame paired with the last ``instruction`` before it, the first one for
frames before any) or from a folder of JPEG/PNG files (``--images DIR --instructions FILE``: one instruction
for every image, or one line per image in file-name order). Every image's declared size is checked before
it is decoded; a frame that does not decode is skipped and counted, never guessed at.
"""

from __future__ import annotations

import argparse
import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spec_decode_ros import topics

MAX_FRAMES = 2000  # default cap on frames taken from one source (evenly spread over it)
MAX_FILE_BYTES = 32 * 2**20  # an image file or message larger than this is refused unread
MAX_INSTRUCTION_CHARS = 2000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
RAW_ENCODINGS = {"rgb8": 3, "bgr8": 3, "mono8": 1}


@dataclass(frozen=True)
class Frame:
    """One camera frame (H×W×3 uint8 RGB) and the instruction the robot had when it was taken."""

    image: np.ndarray
    instruction: str
    source: str  # where it came from: "BAG@<log time ns>" or the file name


@dataclass
class Frames:
    """The frames taken from one source and the ones skipped (with the first reason)."""

    frames: list[Frame] = field(default_factory=list)
    skipped: int = 0
    first_error: str = ""

    def skip(self, where: str, err: Exception) -> None:
        self.skipped += 1
        self.first_error = self.first_error or f"{where}: {err}"

    def summary(self) -> str:
        text = f"{len(self.frames)} frames"
        if self.skipped:
            text += f" ({self.skipped} skipped; first: {self.first_error})"
        return text


# --- images, bounded ---------------------------------------------------------------------------------------------
def decode_image(data: bytes) -> np.ndarray:
    """JPEG or PNG bytes -> H×W×3 uint8 RGB; the declared size is checked before decoding (ValueError)."""
    from spec_decode_ros.bridge.images import decode_jpeg
    from spec_decode_ros.bridge.protocol import ProtocolError

    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{len(data)} bytes: larger than {MAX_FILE_BYTES}")
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _decode_png(data)
        return decode_jpeg(data)  # checks the size the JPEG header declares before decoding
    except ProtocolError as err:
        raise ValueError(err.reason) from err


def _decode_png(data: bytes) -> np.ndarray:
    import cv2

    from spec_decode_ros.bridge.images import MAX_PIXELS, MAX_SIDE

    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("PNG without an IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    if not 0 < width <= MAX_SIDE or not 0 < height <= MAX_SIDE or width * height > MAX_PIXELS:
        raise ValueError(f"PNG declares {width}×{height} pixels; at most {MAX_SIDE} a side and {MAX_PIXELS} in all")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[:2] != (height, width):
        raise ValueError("PNG does not decode to the size it declares")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _raw_image(msg: Any) -> np.ndarray:
    """A sensor_msgs/Image (rgb8, bgr8 or mono8) as RGB; sizes checked against its buffer first."""
    from spec_decode_ros.bridge.images import MAX_PIXELS, MAX_SIDE

    channels = RAW_ENCODINGS.get(str(msg.encoding))
    if channels is None:
        raise ValueError(f"camera encoding {msg.encoding!r} is not one of {', '.join(RAW_ENCODINGS)}")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if not 0 < w <= MAX_SIDE or not 0 < h <= MAX_SIDE or w * h > MAX_PIXELS or step < w * channels:
        raise ValueError(f"image declares {w}×{h} pixels with step {step}")
    data = np.asarray(msg.data, np.uint8)
    if data.size < h * step:
        raise ValueError(f"image of {w}×{h} ({step} bytes a row) holds only {data.size} bytes")
    pixels = data[: h * step].reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[..., ::-1] if msg.encoding == "bgr8" else pixels)


def _instruction(text: str, where: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_INSTRUCTION_CHARS:
        raise ValueError(f"{where}: an instruction must be 1..{MAX_INSTRUCTION_CHARS} characters, got {len(text)}")
    return text


# --- a recorded bag ----------------------------------------------------------------------------------------------
def frames_from_bag(bag: Path, *, max_frames: int = MAX_FRAMES, instruction: str | None = None) -> Frames:
    """Camera frames of ``bag`` (at most ``max_frames``, evenly spread) with their instructions; ``instruction``
    is used where the bag has none. ValueError when the bag has no camera or no instruction at all."""
    from rosbags.rosbag2 import Reader

    from spec_decode_ros.analysis.bag import topic_key
    from spec_decode_ros.analysis.typestore import typestore

    if not Path(bag).exists():
        raise FileNotFoundError(f"bag {bag} does not exist")
    store = typestore()
    out = Frames()
    with Reader(bag) as reader:
        by_key = {topic_key(c.topic): c for c in reader.connections}
        camera = [c for key, c in by_key.items() if key in (topics.CAMERA_JPEG, topics.CAMERA_IMAGE)]
        if not camera:
            raise ValueError(f"bag {bag} has no {topics.CAMERA_JPEG} or {topics.CAMERA_IMAGE} topic to train on")
        said: list[tuple[int, str]] = []
        if topics.INSTRUCTION in by_key:
            for conn, log_ns, raw in reader.messages(connections=[by_key[topics.INSTRUCTION]]):
                said.append((log_ns, _instruction(store.deserialize_cdr(raw, conn.msgtype).data, f"bag {bag}")))
        if not said and instruction is None:
            raise ValueError(f"bag {bag} has no {topics.INSTRUCTION} messages: give the instruction with --instruction")
        total = sum(c.msgcount for c in camera)
        stride = max(1, math.ceil(total / max_frames))
        for index, (conn, log_ns, raw) in enumerate(reader.messages(connections=camera)):
            if index % stride or len(out.frames) >= max_frames:
                continue
            where = f"{bag.name}@{log_ns}"
            try:
                if len(raw) > MAX_FILE_BYTES:
                    raise ValueError(f"{len(raw)} bytes: larger than {MAX_FILE_BYTES}")
                msg = store.deserialize_cdr(raw, conn.msgtype)
                image = _raw_image(msg) if conn.msgtype.endswith("/Image") else decode_image(bytes(msg.data))
            except Exception as err:  # rosbags and OpenCV raise several kinds for bytes that do not decode
                out.skip(where, err)
                continue
            out.frames.append(Frame(image, _said_at(said, log_ns) or str(instruction), where))
    return out


def _said_at(said: list[tuple[int, str]], log_ns: int) -> str | None:
    """The last instruction at or before ``log_ns`` (the first one before any was given); None without any."""
    if not said:
        return None
    before = [text for t, text in said if t <= log_ns]
    return before[-1] if before else said[0][1]


# --- a folder of images ------------------------------------------------------------------------------------------
def frames_from_images(folder: Path, instructions: Path, *, max_frames: int = MAX_FRAMES) -> Frames:
    """The JPEG/PNG files of ``folder`` in name order with their instructions (one line for all, or one a file)."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"{folder} holds no {'/'.join(IMAGE_SUFFIXES)} files")
    if instructions.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{instructions} is larger than {MAX_FILE_BYTES} bytes")
    lines = [line for line in instructions.read_text().splitlines() if line.strip()]
    if len(lines) not in (1, len(files)):
        raise ValueError(f"{instructions} has {len(lines)} instructions for {len(files)} images: give one for all of "
                         f"them or one a line per image, in file-name order")
    texts = [_instruction(line, str(instructions)) for line in lines]
    stride = max(1, math.ceil(len(files) / max_frames))
    out = Frames()
    for index in range(0, len(files), stride):
        path = files[index]
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
            image = decode_image(path.read_bytes())
        except (OSError, ValueError) as err:
            out.skip(path.name, err)
            continue
        out.frames.append(Frame(image, texts[index] if len(texts) > 1 else texts[0], path.name))
    return out


# --- the command-line options that pick them ---------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--from-bag`` or ``--images``/``--instructions``, ``--instruction``, ``--max-frames``, and ``--system-prompt``
    (the prompts the target answers are the robot's: its system prompt included)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--from-bag", type=Path, default=None,
                       help="recorded bag (rosbag2 folder): its camera frames and instructions")
    group.add_argument("--images", type=Path, default=None, help="folder of JPEG/PNG camera frames (with --instructions)")
    parser.add_argument("--instructions", type=Path, default=None,
                        help="with --images: one instruction for every image, or one a line per image in name order")
    parser.add_argument("--instruction", default=None,
                        help="with --from-bag: the instruction for frames of a bag that recorded none")
    parser.add_argument("--max-frames", type=int, default=MAX_FRAMES,
                        help="at most this many frames, evenly spread over the source (default %(default)s)")
    parser.add_argument("--system-prompt", default=None,
                        help="the system prompt the robot will send (train on the answers it will get)")


def from_arguments(args: argparse.Namespace, say: Callable[[str], None] = print) -> list[Frame] | None:
    """The frames the options name (None when they name none); ValueError for options that do not fit."""
    if args.max_frames < 2:
        raise ValueError("--max-frames must be at least 2 (training frames and held-out frames)")
    if args.images is not None and args.instructions is None:
        raise ValueError("--images needs --instructions FILE (one instruction for all, or one a line per image)")
    if args.from_bag is not None:
        found = frames_from_bag(args.from_bag, max_frames=args.max_frames, instruction=args.instruction)
    elif args.images is not None:
        found = frames_from_images(args.images, args.instructions, max_frames=args.max_frames)
    else:
        return None
    say(f"frames: {found.summary()} from {args.from_bag or args.images}")
    if len(found.frames) < 2:
        raise ValueError(f"{found.summary()}: at least 2 frames are needed (training and held-out)")
    return found.frames


def iter_prompts(frames: list[Frame], system: str | None = None) -> Iterator[Any]:
    """The frames as the prompts the target answers (``decoding.types.Prompt``)."""
    from spec_decode_ros.decoding.types import Prompt

    for frame in frames:
        yield Prompt(frame.instruction, frame.image, system)

"""The square side a VLM's image processor works at, so the simulator renders at it (no resampling loss).

One lookup for a loaded processor and one for a saved folder (without loading the model); both read
the processor's ``size`` (then ``crop_size``) the way Hugging Face image processors spell it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

SIZE_KEYS = ("height", "shortest_edge", "longest_edge")
SIZE_ATTRS = ("size", "crop_size")  # in this order


def side_of(size: object) -> int | None:
    """The side in a processor ``size``: a mapping as saved ({"height", "width"}, {"shortest_edge"}, ...) or
    the ``SizeDict`` a loaded transformers 5 processor holds (the same keys as attributes); else None."""
    for key in SIZE_KEYS:
        value = size.get(key) if isinstance(size, Mapping) else getattr(size, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _first_side(sizes: Iterable[object]) -> int | None:
    """The side of the first of (``size``, ``crop_size``) that names one."""
    return next((side for side in map(side_of, sizes) if side), None)


def processor_image_size(processor: object, default: int = 224) -> int:
    """The side a loaded processor (e.g. ``LlavaProcessor``) resizes images to."""
    image_processor = getattr(processor, "image_processor", processor)
    return _first_side(getattr(image_processor, attr, None) for attr in SIZE_ATTRS) or default


def saved_image_size(model_dir: Path, default: int = 96) -> int:
    """The side read from a saved model folder: ``preprocessor_config.json`` or, as transformers 5 saves a
    whole processor, ``processor_config.json``'s ``image_processor``."""
    for name, key in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        config = Path(model_dir) / name
        if not config.exists():
            continue
        data = json.loads(config.read_text())
        section = data.get(key, {}) if key else data
        side = _first_side(section.get(attr) for attr in SIZE_ATTRS)
        if side:
            return side
    return default

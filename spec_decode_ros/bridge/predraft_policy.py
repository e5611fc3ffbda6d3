"""Import alias: the pre-draft policy has no I/O and lives in ``decoding/predraft.py`` beside the round machine."""

from spec_decode_ros.decoding.predraft import LIKELY_HIT, PredraftPolicy

__all__ = ["LIKELY_HIT", "PredraftPolicy"]

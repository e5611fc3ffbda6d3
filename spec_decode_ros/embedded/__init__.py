"""The embedded default: a small draft/target VLM pair trained on the simulated Go2 world.

The shipped checkpoints live in ``spec_decode_ros/assets/models/go2-vlm-{target,draft}/`` (standard
Llava folders: weights, config, processor, tokenizer; the target also holds its exit adapters).
``spec-decode train`` rebuilds them, ``spec-decode eval`` measures them. ``VLMPolicy`` is the
``policy(image, instruction) -> answer text`` that the demo, ``sim.episode.run_episode`` and the
tests call; it runs the target alone, or speculative decoding when given a draft.
"""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"
TARGET_NAME = "go2-vlm-target"
DRAFT_NAME = "go2-vlm-draft"


def default_target_path() -> Path:
    """Folder of the shipped target VLM (with its exit adapters)."""
    return ASSETS_DIR / TARGET_NAME


def default_draft_path() -> Path:
    """Folder of the shipped draft VLM."""
    return ASSETS_DIR / DRAFT_NAME


def model_path(name: str | Path, role: str) -> Path:
    """A model named on a command line or a node parameter: "embedded" is the shipped ``role`` ("target" or
    "draft") model, anything else a model folder or a Hugging Face model id (``decoding.hub.locate_model``:
    ``ModelNotFoundError`` with what to do when it is neither)."""
    if str(name) == "embedded":
        return default_target_path() if role == "target" else default_draft_path()
    from spec_decode_ros.decoding.hub import locate_model

    return locate_model(name, role)


from spec_decode_ros.embedded.policy import VLMPolicy  # noqa: E402  (after the path helpers it uses)

__all__ = ["ASSETS_DIR", "DRAFT_NAME", "TARGET_NAME", "VLMPolicy", "default_draft_path", "default_target_path", "model_path"]

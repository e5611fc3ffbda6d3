"""The decoding modes (one type for the loop, the robot's session, the benches and the nodes); their string values
are the names the CLI, the YAML configs, ROS parameters and the JSON results use."""

from __future__ import annotations

from spec_decode_ros.str_enum import StrEnum


class Mode(StrEnum):
    """How one answer is decoded: ``Mode("sd_ee")`` parses a name, ``mode.value`` gives it back."""

    CLOUD_AR = "cloud_ar"  # the target alone, one token per forward (in the cloud)
    EDGE_ONLY = "edge_only"  # the draft alone, on the robot
    SD = "sd"  # speculative decoding, final verdicts only
    SD_EE = "sd_ee"  # + the early exit's verdict (reported, not acted on)
    SD_EE_PREDRAFT = "sd_ee_predraft"  # + pre-drafting the next block on the early verdict

    @property
    def speculative(self) -> bool:
        """A draft proposes blocks that the target verifies."""
        return self in (Mode.SD, Mode.SD_EE, Mode.SD_EE_PREDRAFT)

    @property
    def early_exit(self) -> bool:
        """The target's early exit sends an early verdict."""
        return self in (Mode.SD_EE, Mode.SD_EE_PREDRAFT)

    @property
    def predraft(self) -> bool:
        """The draft drafts the next block on the early verdict."""
        return self is Mode.SD_EE_PREDRAFT

    @property
    def needs_cloud(self) -> bool:
        return self is not Mode.EDGE_ONLY

    @property
    def needs_draft(self) -> bool:
        return self is not Mode.CLOUD_AR


MODES: tuple[str, ...] = tuple(m.value for m in Mode)  # the names, in order (CLI choices)
AUTO = "auto"  # not a mode of one answer: the robot picks one per answer (``decoding.mode_choice``)
MODE_CHOICES: tuple[str, ...] = (*MODES, AUTO)  # what a robot, the bench and the demo accept

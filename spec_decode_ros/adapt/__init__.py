"""Bring your own VLM: the commands that fit a lab's own target to its own camera frames.

``frames`` reads (frame, instruction) pairs from a recorded bag or an image folder; ``train_exits`` is
``spec-decode train-adapters`` (exit adapters on the target's own answers); ``make_draft`` is
``spec-decode make-draft`` (a draft derived from the target and distilled on the same frames); ``folders``
writes the model folders they leave behind so that ``spec-decode cloud`` and the draft node load them.
"""

"""The round's pure rules (``decoding/round.py``) and the mode type (``decoding/mode.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from spec_decode_ros.decoding import round as rnd
from spec_decode_ros.decoding.mode import MODES, Mode
from spec_decode_ros.decoding.types import DraftBlock

EOS = frozenset({2})


def test_committed_and_early_hit():
    assert rnd.committed((5, 6, 7), 2, 9) == (5, 6, 9)
    assert rnd.committed((5, 6, 7), 3, 9) == (5, 6, 7, 9)  # bonus token
    assert rnd.committed((), 0, 4) == (4,)
    assert rnd.early_hit((1, 4), (1, 4))
    assert not rnd.early_hit((1, 4), (1, 5)) and not rnd.early_hit((2, 4), (1, 4))
    assert not rnd.early_hit(None, (1, 4))


def test_gamma_never_drafts_past_max_new_tokens():
    assert rnd.capped_gamma(4, 32, 0) == 4
    assert rnd.capped_gamma(4, 10, 7) == 2  # 7 committed + 2 drafts + the verdict's own token = 10
    assert rnd.capped_gamma(4, 10, 9) == 0 and rnd.capped_gamma(4, 10, 10) == 0
    assert rnd.capped_gamma(4, 10, 5, pending=3) == 1


def test_predraft_gate():
    assert rnd.predraft_gamma((5, 6), 4, 32, 0, EOS) == 4
    assert rnd.predraft_gamma((5, 2), 4, 32, 0, EOS) == 0  # the early verdict ends the answer
    assert rnd.predraft_gamma((5, 6), 4, 10, 7, EOS) == 0  # the early tokens reach max_new_tokens
    assert rnd.predraft_gamma((5,), 4, 10, 6, EOS) == 2


def test_kept_predraft_is_cut_or_extended_to_gamma():
    ids = np.arange(6, dtype=np.int64).reshape(3, 2)
    pre = DraftBlock((5, 6, 7), after=(1, 9), prob_ids=ids, prob_values=np.full((3, 2), 0.5, np.float32))
    block, short = rnd.next_block(pre, 2, EOS)
    assert block.tokens == (5, 6) and block.after == () and short == 0
    assert block.prob_ids is not None and block.prob_ids.shape == (2, 2)
    block, short = rnd.next_block(pre, 5, EOS)
    assert block.tokens == (5, 6, 7) and block.after == () and short == 2
    _, short = rnd.next_block(DraftBlock((5, 2)), 5, EOS)
    assert short == 0  # ends with EOS: nothing to draft after it
    more = DraftBlock((8,), after=(5, 6, 7), prob_ids=np.array([[8, 1, 3]]), prob_values=np.array([[0.5, 0.3, 0.2]]))
    joined = rnd.concat(block, more)
    assert joined.tokens == (5, 6, 7, 8) and joined.after == ()
    assert joined.prob_ids is not None and joined.prob_ids.shape == (4, 3) and joined.prob_ids[0, 2] == 0
    assert joined.prob_values is not None and joined.prob_values[0].sum() == pytest.approx(1.0)


def test_mode_names_and_properties():
    assert MODES == ("cloud_ar", "edge_only", "sd", "sd_ee", "sd_ee_predraft")  # the CLI/JSON contract
    assert Mode("sd_ee") is Mode.SD_EE and Mode.SD_EE == "sd_ee" and f"{Mode.SD}" == "sd"
    assert [m for m in Mode if m.speculative] == [Mode.SD, Mode.SD_EE, Mode.SD_EE_PREDRAFT]
    assert [m for m in Mode if m.early_exit] == [Mode.SD_EE, Mode.SD_EE_PREDRAFT]
    assert [m for m in Mode if m.predraft] == [Mode.SD_EE_PREDRAFT]
    assert not Mode.EDGE_ONLY.needs_cloud and not Mode.CLOUD_AR.needs_draft
    with pytest.raises(ValueError):
        Mode("fast")

"""The round's pure rules and its state machine (``decoding/round.py``), and the mode type (``decoding/mode.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from spec_decode_ros.decoding import round as round_rules
from spec_decode_ros.decoding.gamma import GammaSchedule
from spec_decode_ros.decoding.mode import MODES, Mode
from spec_decode_ros.decoding.predraft import PredraftPolicy
from spec_decode_ros.decoding.round import DraftAsk, RoundMachine
from spec_decode_ros.decoding.types import DraftBlock, Verdict

EOS = frozenset({2})


def test_committed_and_early_hit():
    assert round_rules.committed((5, 6, 7), 2, 9) == (5, 6, 9)
    assert round_rules.committed((5, 6, 7), 3, 9) == (5, 6, 7, 9)  # bonus token
    assert round_rules.committed((), 0, 4) == (4,)
    assert round_rules.early_hit((1, 4), (1, 4))
    assert not round_rules.early_hit((1, 4), (1, 5)) and not round_rules.early_hit((2, 4), (1, 4))
    assert not round_rules.early_hit(None, (1, 4))


def test_gamma_never_drafts_past_max_new_tokens():
    assert round_rules.capped_gamma(4, 32, 0) == 4
    assert round_rules.capped_gamma(4, 10, 7) == 2  # 7 committed + 2 drafts + the verdict's own token = 10
    assert round_rules.capped_gamma(4, 10, 9) == 0 and round_rules.capped_gamma(4, 10, 10) == 0
    assert round_rules.capped_gamma(4, 10, 5, pending=3) == 1


def test_predraft_gate():
    assert round_rules.predraft_gamma((5, 6), 4, 32, 0, EOS) == 4
    assert round_rules.predraft_gamma((5, 2), 4, 32, 0, EOS) == 0  # the early verdict ends the answer
    assert round_rules.predraft_gamma((5, 6), 4, 10, 7, EOS) == 0  # the early tokens reach max_new_tokens
    assert round_rules.predraft_gamma((5,), 4, 10, 6, EOS) == 2


def test_kept_predraft_is_cut_or_extended_to_gamma():
    ids = np.arange(6, dtype=np.int64).reshape(3, 2)
    pre = DraftBlock((5, 6, 7), after=(1, 9), prob_ids=ids, prob_values=np.full((3, 2), 0.5, np.float32))
    block, short = round_rules.next_block(pre, 2, EOS)
    assert block.tokens == (5, 6) and block.after == () and short == 0
    assert block.prob_ids is not None and block.prob_ids.shape == (2, 2)
    block, short = round_rules.next_block(pre, 5, EOS)
    assert block.tokens == (5, 6, 7) and block.after == () and short == 2
    _, short = round_rules.next_block(DraftBlock((5, 2)), 5, EOS)
    assert short == 0  # ends with EOS: nothing to draft after it
    more = DraftBlock((8,), after=(5, 6, 7), prob_ids=np.array([[8, 1, 3]]), prob_values=np.array([[0.5, 0.3, 0.2]]))
    joined = round_rules.concat(block, more)
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


def _machine(**kwargs) -> RoundMachine:
    return RoundMachine(EOS, kwargs.pop("max_new_tokens", 32), schedule=GammaSchedule(4), **kwargs)


def test_machine_round_with_a_kept_predraft():
    m = _machine()
    assert m.plan() == DraftAsk(4)
    block = m.drafted(DraftBlock((5, 6, 7, 8), seconds=0.4))
    assert block.tokens == (5, 6, 7, 8) and m.policy.token_s == pytest.approx(0.1)
    ask = m.early(Verdict(2, 9))
    assert ask == DraftAsk(4, (5, 6, 9))  # pre-draft after the early verdict's tokens
    assert m.early(Verdict(1, 3)) is None  # only the first early verdict counts
    m.predrafted(DraftBlock((10, 11, 12, 13), after=(5, 6, 9)))
    out = m.final(Verdict(2, 9), window_s=0.05)
    assert out.tokens == (5, 6, 9) and out.hit and not out.done and m.committed == [5, 6, 9]
    assert m.policy.window_s == pytest.approx(0.05) and m.metrics.early_exit_hits == 1
    assert m.plan() == DraftAsk(0, (10, 11, 12, 13))  # the kept pre-draft is the whole next block
    assert m.drafted(None).tokens == (10, 11, 12, 13)


def test_machine_drops_a_missed_predraft_and_a_lost_rounds_verdicts():
    m = _machine()
    m.plan()
    m.drafted(DraftBlock((5, 6, 7, 8)))
    m.early(Verdict(2, 9))
    m.predrafted(DraftBlock((10, 11), after=(5, 6, 9)))
    m.lost()  # the session was lost: that EARLY and its pre-draft are void, the block goes again
    assert m.early(Verdict(3, 4)) == DraftAsk(4, (5, 6, 7, 4))
    m.predrafted(DraftBlock((10, 11, 12, 13), after=(5, 6, 7, 4)))
    out = m.final(Verdict(1, 3))
    assert out.tokens == (5, 3) and not out.hit and m.metrics.early_exit_misses == 1
    assert m.plan() == DraftAsk(4)  # a miss: the pre-draft continues other tokens; draft afresh


def test_machine_stops_token_by_token_at_eos_and_at_max_new_tokens():
    m = _machine()
    m.plan()
    m.drafted(DraftBlock((5, 2, 7)))  # the target accepted past EOS (another EOS set than the draft's)
    out = m.final(Verdict(3, 8))
    assert out.tokens == (5, 2) and out.done and m.committed == [5, 2] and m.metrics.num_generated_tokens == 2
    m = _machine(max_new_tokens=3)
    assert m.plan() == DraftAsk(2)  # capped: two drafts and the verdict's token reach M
    m.drafted(DraftBlock((5, 6)))
    assert m.early(Verdict(2, 7)) is None  # the early tokens already reach M: no pre-draft
    assert m.final(Verdict(2, 7)).tokens == (5, 6, 7) and m.done
    with pytest.raises(RuntimeError, match="done"):
        m.plan()  # no round after the stop
    m = _machine()
    m.plan()
    m.drafted(DraftBlock((5,)))
    assert m.final(Verdict(1, 6), finished=True).done  # the verifier ended the answer


def test_machine_takes_the_targets_eos_from_opened_and_the_mode_per_answer():
    m = _machine()
    m.opened((7,))
    m.opened(())  # a verifier that names none: keep what we have
    m.plan()
    m.drafted(DraftBlock((5, 2, 7, 8)))
    assert m.final(Verdict(4, 9)).tokens == (5, 2, 7)  # 2 is the draft's EOS, not the target's
    cloud = _machine(mode="cloud_ar")
    assert cloud.plan() == DraftAsk(0) and cloud.drafted(None).tokens == ()
    assert cloud.final(Verdict(0, 5)).tokens == (5,)
    no_pre = _machine(mode="sd_ee")
    no_pre.plan()
    no_pre.drafted(DraftBlock((5, 6)))
    assert no_pre.early(Verdict(2, 7)) is None and no_pre.final(Verdict(2, 7)).hit


def test_machine_predrafts_what_the_policy_allows():
    m = _machine(policy=PredraftPolicy(hit_rate=0.1, window_s=0.25, token_s=0.1))
    m.plan()
    m.drafted(DraftBlock((5, 6, 7, 8), seconds=0.4))
    assert m.early(Verdict(4, 9)) == DraftAsk(2, (5, 6, 7, 8, 9))  # ⌊0.25 / 0.1⌋ tokens fit in the window
    with pytest.raises(ValueError, match="max_new_tokens"):
        RoundMachine(EOS, 0)

"""mode: auto without I/O: the cost model's forms, the estimates from rounds, and the chooser on scripted links
(a fake cloud that answers rounds with known costs), including its exploration bound."""

from __future__ import annotations

import math

import pytest

from spec_decode_ros.bridge.auto_mode import AutoMode
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeResult
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.mode_choice import Choice, ModeChooser
from spec_decode_ros.decoding.mode_cost import (
    Costs,
    answer_s,
    hidden_s,
    predict,
    round_bound_s,
    round_s,
    rounds_to_commit,
    tokens_per_round,
    until_s,
)
from spec_decode_ros.decoding.mode_estimates import CLOUD, EARLY, SPECULATIVE, ModeEstimates
from spec_decode_ros.decoding.round_event import RoundEvent
from spec_decode_ros.decoding.types import SpecMetrics


def costs(**kw: float) -> Costs:
    base = dict(rtt_s=0.08, verify_fixed_s=0.03, verify_per_token_s=0.0, ar_interval_s=0.03, draft_token_s=0.01,
                acceptance=0.8, early_hit_rate=0.9, late_fraction=0.5, open_ar_s=0.0, open_sd_s=0.0)
    base.update(kw)
    return Costs(**base)


def test_tokens_per_round_and_rounds_follow_the_geometric_acceptance():
    assert tokens_per_round(0.5, 3) == pytest.approx(1 + 0.5 + 0.25 + 0.125)
    assert tokens_per_round(0.0, 8) == 1.0
    assert rounds_to_commit(1.0, 3, 8) == pytest.approx(2.0)  # 4 tokens a round
    assert rounds_to_commit(0.0, 5, 7) == pytest.approx(7.0)  # one token a round
    assert rounds_to_commit(1.0, 3, 4.5) == pytest.approx(1.5)  # linear between whole lengths
    # many rounds: R(N) tends to N / E(α, γ)
    assert rounds_to_commit(0.7, 4, 400) == pytest.approx(400 / tokens_per_round(0.7, 4), rel=0.02)


def test_rounds_respect_the_bound_and_predraft_hides_at_most_the_window():
    c = costs()
    for gamma in (1, 4, 8):
        for mode in (Mode.SD, Mode.SD_EE, Mode.SD_EE_PREDRAFT):
            assert round_s(c, mode, gamma) >= round_bound_s(c, gamma) - 1e-12
        assert round_s(c, Mode.SD, gamma) == pytest.approx(gamma * 0.01 + 0.08 + 0.03)
        hidden = round_s(c, Mode.SD, gamma) - round_s(c, Mode.SD_EE_PREDRAFT, gamma)
        assert hidden == pytest.approx(hidden_s(c, gamma))
        assert hidden <= 0.9 * min(gamma * 0.01, 0.5 * 0.03) + 1e-12
    # the first round has no early verdict behind it: nothing hidden
    assert round_s(c, Mode.SD_EE_PREDRAFT, 4, first=True) == round_s(c, Mode.SD, 4)
    # rare hits: only what fits in the window, never a loss
    rare = costs(early_hit_rate=0.2, draft_token_s=0.02)
    assert hidden_s(rare, 8) == pytest.approx(0.2 * 0 * 0.02)  # W = 15 ms < one 20 ms token
    assert hidden_s(costs(early_hit_rate=0.2), 8) == pytest.approx(0.2 * 1 * 0.01)


def test_answer_forms_for_cloud_ar_and_one_round_answers():
    c = costs(open_ar_s=0.01, open_sd_s=0.02, acceptance=1.0)
    assert answer_s(c, Mode.CLOUD_AR, 0, 5) == pytest.approx(0.01 + 0.08 + 0.03 + 4 * 0.03)
    # a 5-token answer fits in one round of γ = 4 at α = 1: pre-drafting has nothing to hide
    assert answer_s(c, Mode.SD_EE_PREDRAFT, 4, 5) == pytest.approx(answer_s(c, Mode.SD, 4, 5))
    assert answer_s(c, Mode.SD_EE_PREDRAFT, 4, 20) < answer_s(c, Mode.SD, 4, 20)
    with pytest.raises(ValueError):
        answer_s(c, Mode.EDGE_ONLY, 4, 5)
    with pytest.raises(ValueError):
        costs(acceptance=1.5)
    p = predict(c, Mode.SD, 4, [(5.0, 3.0), (10.0, 3.0)])
    assert p.first_command_s < p.answer_s and p.gamma == 4
    # the first command of a 6-token answer ends at token 3, inside a round that drafts on to the answer's end (the
    # draft cannot know where the command ends): it comes with the whole round, later than a 3-token answer would
    assert until_s(c, Mode.SD, 8, 6, 3) == pytest.approx(answer_s(c, Mode.SD, 8, 6))
    assert until_s(c, Mode.SD, 8, 6, 3) == pytest.approx(answer_s(c, Mode.SD, 8, 3) + 3 * c.draft_token_s)
    assert until_s(c, Mode.CLOUD_AR, 0, 6, 3) == pytest.approx(answer_s(c, Mode.CLOUD_AR, 0, 3))  # it streams
    assert until_s(c, Mode.SD, 2, 6, 4) == pytest.approx(c.open_sd_s + 2 * round_s(c, Mode.SD, 2))  # two rounds


def Round(gamma: int, n_accepted: int, committed: int, early_sent: bool, early_hit: bool, draft_s: float,
          early_s: float, final_s: float, server_s: float) -> RoundEvent:
    """A round as the robot's session reports it (round number and round time do not enter the estimates)."""
    return RoundEvent(0, gamma, n_accepted, committed, early_sent, early_hit, draft_s, early_s, final_s, server_s,
                      round_s=draft_s + final_s)


class FakeLink:
    """Answers of ``length`` tokens decoded on a link with known costs; the draft's tokens are accepted in runs of
    ``run`` (then one is rejected)."""

    def __init__(self, *, rtt: float, fwd: float, t_d: float, run: int, length: int = 12, late: float = 0.5,
                 early: bool = True) -> None:
        self.rtt, self.fwd, self.t_d, self.run, self.length, self.late, self.early = rtt, fwd, t_d, run, length, late, early

    def answer(self, mode: Mode, gamma: int) -> tuple[list[RoundEvent], float, float]:
        """(rounds, first token time, answer time)."""
        if mode is Mode.CLOUD_AR:
            rounds = [Round(0, 0, i + 1, False, False, 0.0, 0.0, self.fwd if i else self.rtt + self.fwd, self.fwd)
                      for i in range(self.length)]
            return rounds, self.rtt + self.fwd, self.rtt + self.length * self.fwd
        rounds, done, t, first = [], 0, 0.0, None
        early = self.early and mode.early_exit
        while done < self.length:
            n = min(gamma, self.run)
            done = min(self.length, done + n + 1)
            window = self.late * self.fwd
            hidden = min(gamma * self.t_d, window) if (mode.predraft and rounds) else 0.0
            t += gamma * self.t_d - hidden + self.rtt + self.fwd
            rounds.append(Round(gamma, n, done, early, early, gamma * self.t_d,
                                self.rtt + self.fwd - window if early else 0.0, self.rtt + self.fwd, self.fwd))
            first = t if first is None else first
        return rounds, first, t


def drive(chooser: ModeChooser, link: FakeLink, answers: int) -> list:
    choices = []
    for _ in range(answers):
        choice = chooser.choose()
        rounds, first, _ = link.answer(choice.mode, choice.gamma)
        chooser.observe_answer(choice.mode, rounds, rounds[-1].committed, first)
        choices.append(choice)
    return choices


def test_warm_up_measures_each_family_once_then_picks_the_predicted_best():
    # a long link, a fast draft that the target agrees with: speculation wins
    chooser = ModeChooser(gamma=4, explore_every=1000)
    choices = drive(chooser, FakeLink(rtt=0.08, fwd=0.03, t_d=0.005, run=6), 6)
    assert [c.mode for c in choices[:2]] == [Mode.SD_EE, Mode.CLOUD_AR] and all(c.explore for c in choices[:2])
    assert all(chooser.estimates.measured(f) for f in (CLOUD, SPECULATIVE, EARLY))
    assert all(not c.explore and c.mode.speculative for c in choices[2:])
    assert "fastest predicted" in choices[-1].why and choices[-1].predicted(Mode.CLOUD_AR) is not None
    est = chooser.estimates
    assert est.rtt.value == pytest.approx(0.08) and est.draft_token.value == pytest.approx(0.005)
    assert est.late_fraction.value == pytest.approx(0.5)


def test_a_draft_the_target_rejects_makes_it_pick_cloud_ar():
    chooser = ModeChooser(gamma=4, explore_every=1000)
    choices = drive(chooser, FakeLink(rtt=0.08, fwd=0.03, t_d=0.02, run=0), 5)
    assert chooser.estimates.acceptance == pytest.approx(0.0)
    assert all(c.mode is Mode.CLOUD_AR for c in choices[2:])


def test_exploration_is_bounded_and_refreshes_what_the_choice_does_not_measure():
    # a close call: the speculative modes within 25 % of cloud_ar, whose estimates go stale while it runs
    chooser = ModeChooser(gamma=4, explore_every=10)
    choices = drive(chooser, FakeLink(rtt=0.02, fwd=0.03, t_d=0.012, run=1), 62)
    after = choices[2:]
    explored = [c for c in after if c.explore]
    assert len(explored) == math.floor(len(after) / 10)  # one answer in ten, no more
    assert all(c.mode is Mode.SD_EE_PREDRAFT for c in explored)  # the cheapest mode that measures them
    assert chooser.estimates.staleness(SPECULATIVE) < 10
    # a clear call: a draft the target always rejects is not worth re-measuring
    far = ModeChooser(gamma=4, explore_every=10)
    assert not any(c.explore for c in drive(far, FakeLink(rtt=0.08, fwd=0.03, t_d=0.02, run=0), 40)[2:])


def test_a_verifier_without_early_exits_is_tried_once_and_its_modes_left_out():
    chooser = ModeChooser(gamma=4, explore_every=1000)
    choices = drive(chooser, FakeLink(rtt=0.08, fwd=0.03, t_d=0.005, run=6, early=False), 6)
    assert not chooser.estimates.measured(EARLY)
    assert [c.mode for c in choices[2:]] == [Mode.SD] * 4  # never sd_ee_predraft, never another warm-up


def test_estimates_do_not_blame_the_draft_for_the_answers_end():
    est = ModeEstimates()
    # one round: 3 drafts accepted, the verdict's own token ends the answer (a rejection that costs no round)
    est.observe_answer(Mode.SD, [Round(8, 3, 4, False, False, 0.08, 0.0, 0.11, 0.03)], 4, 0.2)
    assert est.acceptance == 1.0
    # the same, but the answer goes on: a real rejection
    est2 = ModeEstimates(smoothing=0.0)
    est2.observe_answer(Mode.SD, [Round(8, 3, 4, False, False, 0.08, 0.0, 0.11, 0.03),
                                  Round(8, 8, 13, False, False, 0.08, 0.0, 0.11, 0.03)], 13, 0.2)
    assert est2.acceptance == pytest.approx(11 / 12)
    with pytest.raises(ValueError):
        ModeChooser(objective="fastest")


class CountingChooser(ModeChooser):
    """A chooser that counts how often it ran the cost model (``decide``)."""

    def decide(self) -> Choice:
        self.decided = getattr(self, "decided", 0) + 1
        return super().decide()


def test_auto_decides_the_next_answer_ahead_and_picks_as_if_it_decided_then():
    # mode auto on the robot: as an answer ends (the robot about to execute its first command) nothing is worked out;
    # the heartbeat's ping reads the answer and runs the cost model while the robot waits, so the next request only
    # commits a choice already made; with no ping in between, next() does it. Either way the choice is the one a
    # chooser deciding on the spot makes.
    chooser, plain = CountingChooser(gamma=4, explore_every=3), ModeChooser(gamma=4, explore_every=3)
    auto = AutoMode(EdgeConfig(gamma=4), chooser)
    link = FakeLink(rtt=0.02, fwd=0.03, t_d=0.012, run=1)
    pinged = False
    for answer in range(10):
        ran = chooser.__dict__.get("decided", 0)
        config, choice = auto.next()
        assert chooser.__dict__.get("decided", 0) == ran + (not pinged)  # a ping came: decided already
        expected = plain.choose()
        assert (choice.mode, choice.gamma, choice.explore, choice.why) == \
            (expected.mode, expected.gamma, expected.explore, expected.why)
        assert (config.mode, config.gamma) == (choice.mode, choice.gamma)
        rounds, first, total = link.answer(choice.mode, choice.gamma)
        tokens = rounds[-1].committed
        read: list[int] = []
        ran = chooser.__dict__.get("decided", 0)
        auto.record(choice, rounds, EdgeResult(list(range(tokens)), "", total, first,
                                               [first + i * 1e-3 for i in range(tokens)], SpecMetrics()),
                    lambda tokens=tokens, read=read, first=first: read.append(1) or first + (tokens - 1) * 1e-3)
        assert chooser.__dict__.get("decided", 0) == ran and not read  # kept, not read, as the answer ends
        plain.observe_answer(choice.mode, rounds, tokens, first, tokens)
        pinged = answer % 3 != 2
        if pinged:
            auto.observe_rtt(0.025 + answer * 1e-3)
            plain.estimates.observe_rtt(0.025 + answer * 1e-3)
            assert read == [1]
    assert chooser.decided == 10 + pinged  # once per answer, and the last ping decided an 11th
    assert AutoMode(EdgeConfig(gamma=4), objective="first_command").chooser.objective == "first_command"
    with pytest.raises(ValueError, match="objective"):
        AutoMode(EdgeConfig(gamma=4), objective="fastest")


def test_cloud_ars_first_forward_carries_the_prefill_into_its_opening():
    # cloud_ar's first forward prefills the prompt (here 5 ms on a 3 ms forward): the model must put that in o_ar,
    # not spread it over every token's forward, or it promises a first token ~4 ms early on a 20 ms answer
    rtt, fwd, prefill, opening, n = 0.005, 0.003, 0.005, 0.002, 4
    rounds = [Round(0, 0, 1, False, False, 0.0, 0.0, rtt + prefill + fwd, prefill + fwd)]
    rounds += [Round(0, 0, i + 1, False, False, 0.0, 0.0, fwd, fwd) for i in range(1, n)]
    est = ModeEstimates(smoothing=0.0)
    est.observe_rtt(rtt)
    est.observe_answer(Mode.CLOUD_AR, rounds, n, rtt + prefill + fwd + opening)
    c = est.costs()
    assert c is not None and c.verify_s(1) == pytest.approx(fwd)
    assert answer_s(c, Mode.CLOUD_AR, 0, 1) == pytest.approx(rtt + prefill + fwd + opening)
    assert answer_s(c, Mode.CLOUD_AR, 0, n) == pytest.approx(rtt + prefill + fwd + opening + (n - 1) * fwd)


def test_among_gammas_predicted_alike_it_takes_the_largest():
    # answers of 4 tokens the target always accepts, a fast draft: γ = 3 is best by one draft token (1 ms of a 114 ms
    # round); within the 3 % slack the largest γ is taken, which carries a longer answer in one round, not two
    link = FakeLink(rtt=0.08, fwd=0.03, t_d=0.001, run=8, length=4)
    assert all(c.mode.speculative and c.gamma == 8 for c in drive(ModeChooser(gamma=4, explore_every=1000), link, 5)[2:])
    tight = ModeChooser(gamma=4, explore_every=1000, gamma_slack=0.0)
    assert all(c.gamma == 3 for c in drive(tight, link, 5)[2:])
    # a slow draft (a draft token is 4 % of the round): the spare drafts are not free, and γ stays one short
    slow = FakeLink(rtt=0.08, fwd=0.03, t_d=0.005, run=8, length=4)
    assert all(c.gamma == 3 for c in drive(ModeChooser(gamma=4, explore_every=1000), slow, 5)[2:])

"""``mode: auto``: before each answer, pick the decoding mode and γ that the cost model (``decoding.mode_cost``)
predicts fastest from what the robot has measured (``decoding.mode_estimates``), and explore enough to keep those
measurements honest. Pure: the driver asks ``choose()``, decodes, and hands the answer to ``observe_answer``.

Every mode is lossless (only the target's FINAL verdicts commit tokens), so switching between answers changes the
time an answer takes, never what it says. Exploring:

- **warm-up**: what was never measured is measured once, one answer each: ``sd_ee`` first (it measures everything
  the speculative modes need: RTT, t_v, t_d, α, and the early exit's hit rate and window, which ``sd_ee_predraft``
  is predicted from), then ``cloud_ar`` (its per-token interval). A family that a try did not measure (a verifier
  without early exits) is not tried again and its modes are left out;
- **then**, at most one answer in ``explore_every`` re-measures, with the best-predicted mode that measures it, the
  stalest family the current choice does not measure itself (``cloud_ar`` while the robot runs a speculative mode; ``sd_ee`` while it runs ``cloud_ar`` or
  ``sd``), and only when a mode resting on that family is predicted within ``explore_within`` (1.25×) of the best:
  modes predicted far slower could not win on a small change of their estimates. ``sd_ee`` costs what ``sd`` costs (the
  model has it so: the early verdict is only listened to), so exploring it is free where ``sd`` wins; any
  exploring answer costs at most (explore_within − 1) / explore_every of the answer time (0.25 / 20 = 1.25 %).

What "fastest" means is ``objective``: ``balanced`` (default) minimises the worse of the two ratios to the fastest
prediction, answer time and first-command time (a robot wants both: its first command early, its answer done);
``answer`` or ``first_command`` one of them. Between non-exploring answers the choice moves only when another mode
is predicted better by more than ``switch_margin`` (no flapping on noise).

``choose()`` is ``commit(decide())``: ``decide()`` reads and changes nothing (a driver may decide the next answer
ahead, off its critical path, and decide again when a ping brings news), ``commit()`` counts the choice in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.mode_cost import CHOOSABLE, Prediction, predict
from spec_decode_ros.decoding.mode_estimates import CLOUD, EARLY, FAMILIES, SPECULATIVE, ModeEstimates
from spec_decode_ros.decoding.round_event import RoundEvent

OBJECTIVES = ("balanced", "answer", "first_command")
NEEDS: dict[Mode, tuple[str, ...]] = {  # what a mode's prediction rests on (and what running it measures)
    Mode.CLOUD_AR: (CLOUD,),
    Mode.SD: (SPECULATIVE,),
    Mode.SD_EE: (SPECULATIVE, EARLY),
    Mode.SD_EE_PREDRAFT: (SPECULATIVE, EARLY),
}
EXPLORER = {CLOUD: Mode.CLOUD_AR, SPECULATIVE: Mode.SD_EE, EARLY: Mode.SD_EE}  # the warm-up's mode per family
WARM_UP = (EARLY, SPECULATIVE, CLOUD)  # the order in which never-measured families are measured


@dataclass(frozen=True)
class Choice:
    """What one answer runs, and why: ``predictions`` (each mode at its best γ) and the ``estimates`` behind them."""

    mode: Mode
    gamma: int
    explore: bool
    why: str
    predictions: tuple[Prediction, ...] = ()
    estimates: dict[str, float | None] = field(default_factory=dict)
    family: str = ""  # what an exploring answer re-measures

    def predicted(self, mode: Mode) -> Prediction | None:
        return next((p for p in self.predictions if p.mode is Mode(mode)), None)


def _figures(p: Prediction) -> str:
    return f"{p.answer_s * 1e3:.0f} ms answer, {p.first_command_s * 1e3:.0f} ms first command"


@dataclass
class ModeChooser:
    """Picks (mode, γ) per answer. ``gamma``: γ while nothing is measured; ``gammas``: the γ it may pick."""

    gamma: int = 4
    gammas: Sequence[int] = tuple(range(1, 9))
    explore_every: int = 20
    switch_margin: float = 0.03
    explore_within: float = 1.25  # re-measure only a mode predicted at most this much slower than the best
    gamma_slack: float = 0.03  # the largest γ predicted within this of a mode's best γ (see predictions())
    objective: str = "balanced"
    estimates: ModeEstimates = field(default_factory=ModeEstimates)
    _tried: set[str] = field(default_factory=set, init=False)
    _since_explore: int = field(default=0, init=False)
    _current: Mode | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.explore_every < 1 or not self.gammas or min(self.gammas) < 1 or self.gamma < 1:
            raise ValueError("explore_every, gamma and every γ in gammas must be >= 1")

    def warming_up(self) -> bool:
        """The next choice measures a family never measured (a warm-up answer)."""
        return any(not self.estimates.measured(f) and f not in self._tried for f in WARM_UP)

    def choose(self) -> Choice:
        """The next answer's mode and γ, counted in."""
        return self.commit(self.decide())

    def commit(self, choice: Choice) -> Choice:
        """``choice`` (from ``decide()``, with nothing committed since) is the next answer's."""
        if choice.explore:
            self._tried.add(choice.family)
            self._since_explore = 0
        elif choice.predictions:
            self._since_explore += 1
            self._current = choice.mode
        return choice

    def decide(self) -> Choice:
        """What ``choose()`` would pick now, changing nothing."""
        est = self.estimates
        for family in WARM_UP:
            if not est.measured(family) and family not in self._tried:
                return self._explore(family, "never measured")
        predictions = self.predictions()
        if not predictions:  # nothing measurable (no cloud round, no speculative round came back): the default
            return Choice(Mode.SD, self.gamma, False, "no measurements yet", (), est.snapshot())
        best = self._best(predictions)
        if self._since_explore + 1 >= self.explore_every:
            stale = [f for f in FAMILIES if f not in NEEDS[best.mode] and self.estimates.measured(f)
                     and self._worth_exploring(f, predictions)]
            if stale:
                family = max(stale, key=est.staleness)
                resting = min((p for p in predictions if family in NEEDS[p.mode]),
                              key=lambda p: self._regret(p, predictions))  # the cheapest mode that measures it
                return self._explore(family, f"{est.staleness(family):.0f} answers since measured",
                                     resting.gamma or self.gamma, predictions, resting.mode)
        others = sorted((p for p in predictions if p.mode is not best.mode), key=lambda p: self._regret(p, predictions))
        why = f"fastest predicted: {_figures(best)}" + (f" vs {others[0].mode.value} {_figures(others[0])}" if others else "")
        return Choice(best.mode, best.gamma or self.gamma, False, why, predictions, est.snapshot())

    def predictions(self) -> tuple[Prediction, ...]:
        """Each mode that can be predicted, at its best γ: the largest γ predicted within ``gamma_slack`` of the best
        one. The answers' lengths are known only from the recent ones, and the best γ is usually one short of the
        longest of them (the target's own token ends the answer); a larger γ costs only the drafts of answers that
        end sooner, which the draft stops drafting at their end (a few percent at most with a fast draft), and
        carries an answer longer than those seen in one round instead of two (its whole round again, 50 % or more of
        that answer): the slack pays once more than one answer in 30 is longer than the recent ones."""
        costs = self.estimates.costs()
        if costs is None:
            return ()
        lengths = tuple(self.estimates.recent) or ((float(self.gamma), float(self.gamma)),)
        out = []
        for mode in CHOOSABLE:
            if not all(self.estimates.measured(f) for f in NEEDS[mode]):
                continue
            gammas = (0,) if mode is Mode.CLOUD_AR else self.gammas
            options = [predict(costs, mode, g, lengths) for g in gammas]
            best = min(self._regret(p, options) for p in options)
            out.append(max((p for p in options if self._regret(p, options) <= best * (1.0 + self.gamma_slack)),
                           key=lambda p: p.gamma))
        return tuple(out)

    def observe_answer(self, mode: Mode, rounds: Sequence[RoundEvent], tokens: int, first_token_s: float,
                       first_command_tokens: int | None = None) -> None:
        """The answer decoded as chosen (see ``ModeEstimates.observe_answer``)."""
        self.estimates.observe_answer(mode, rounds, tokens, first_token_s, first_command_tokens)

    # ------------------------------------------------------------------------------------------ helpers
    def _score(self, p: Prediction) -> float:
        return p.answer_s if self.objective == "answer" else p.first_command_s

    def _regret(self, p: Prediction, predictions: Sequence[Prediction]) -> float:
        """How much slower than the fastest prediction: ``answer`` / ``first_command``: in that figure; ``balanced``:
        in the worse of the two (a robot wants its first command early and its answer done early)."""
        if self.objective != "balanced":
            return self._score(p) / max(min(self._score(q) for q in predictions), 1e-9)
        return max(p.answer_s / max(min(q.answer_s for q in predictions), 1e-9),
                   p.first_command_s / max(min(q.first_command_s for q in predictions), 1e-9))

    def _worth_exploring(self, family: str, predictions: Sequence[Prediction]) -> bool:
        """A mode that rests on ``family`` is predicted within ``explore_within`` of the best: fresher estimates
        could change the choice."""
        return any(self._regret(p, predictions) <= self.explore_within for p in predictions if family in NEEDS[p.mode])

    def _best(self, predictions: Sequence[Prediction]) -> Prediction:
        best = min(predictions, key=lambda p: (self._regret(p, predictions), CHOOSABLE.index(p.mode)))
        current = next((p for p in predictions if p.mode is self._current), None)
        if current is not None and \
                self._regret(current, predictions) <= self._regret(best, predictions) * (1.0 + self.switch_margin):
            return current
        return best

    def _explore(self, family: str, reason: str, gamma: int | None = None,
                 predictions: tuple[Prediction, ...] = (), mode: Mode | None = None) -> Choice:
        """An answer that measures ``family`` (with ``mode``; default: the warm-up's explorer)."""
        mode = mode if mode is not None else EXPLORER[family]
        return Choice(mode, gamma or self.gamma, True, f"explore {family}: {reason}", predictions,
                      self.estimates.snapshot(), family)

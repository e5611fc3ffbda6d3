"""mode auto over real sockets: answer after answer the robot picks a mode (warm-up, then the cost model's choice),
and every answer is the target's own, token for token, whatever was picked; the estimates come from real rounds."""

from __future__ import annotations

from bridge.conftest import MAX_NEW, serving
from bridge.tiny_pair import PROMPTS
from spec_decode_ros.bridge.auto_mode import AutoMode, tokens_until
from spec_decode_ros.bridge.client import CloudClient
from spec_decode_ros.bridge.edge import EdgeConfig, EdgeSession, RoundEvent
from spec_decode_ros.decoding.mode import Mode
from spec_decode_ros.decoding.mode_choice import ModeChooser
from spec_decode_ros.decoding.mode_estimates import CLOUD, EARLY, SPECULATIVE
from spec_decode_ros.decoding.types import Prompt


def test_auto_picks_per_answer_and_every_answer_is_the_targets(target, draft, references):
    auto = AutoMode(EdgeConfig(gamma=4, max_new_tokens=MAX_NEW), ModeChooser(gamma=4, explore_every=3))
    picked: list[tuple[Mode, bool]] = []
    with serving(target) as server:
        for text in PROMPTS * 3:
            config, choice = auto.next()
            rounds: list[RoundEvent] = []
            client = CloudClient(server.endpoint)
            result = EdgeSession(client, draft, Prompt(text), config, on_round=rounds.append).run()
            client.close()
            assert result.tokens == references[text], (choice.mode, text)
            assert rounds and rounds[-1].committed == len(result.tokens)
            auto.record(choice, rounds, result, result.token_times[0])
            picked.append((choice.mode, choice.explore))
    assert picked[:2] == [(Mode.SD_EE, True), (Mode.CLOUD_AR, True)]  # the warm-up: each family measured once
    assert not auto.warming_up()
    est = auto.chooser.estimates
    assert all(est.measured(f) for f in (CLOUD, SPECULATIVE, EARLY))
    assert est.rtt.value is not None and est.rtt.value >= 0 and est.verify.value and est.draft_token.value
    assert 0 < (est.acceptance or 0) <= 1
    chosen = [mode for mode, explore in picked[2:] if not explore]
    assert chosen and all(mode in (Mode.CLOUD_AR, Mode.SD, Mode.SD_EE, Mode.SD_EE_PREDRAFT) for mode in chosen)
    assert sum(explore for _, explore in picked[2:]) <= len(picked[2:]) // 3 + 1  # the exploration bound
    assert tokens_until([0.1, 0.2, 0.3], 0.2) == 2 and tokens_until([0.1], None) is None

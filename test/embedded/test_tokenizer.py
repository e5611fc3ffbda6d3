"""The shared word-level tokenizer: every grammar answer round-trips, prompts follow the chat template."""

from __future__ import annotations

import itertools

import pytest
from support.commands import canonical_commands
from transformers import AutoTokenizer

from spec_decode_ros.control.grammar import (
    format_answer,
    parse_answer,
)
from spec_decode_ros.embedded.tokenizer import (
    ANSWER,
    IMAGE,
    build_tokenizer,
    default_tokenizer,
    instruction_corpus,
    prompt_messages,
    prompt_text,
)


@pytest.fixture(scope="module")
def tokenizer():
    return default_tokenizer()


def test_every_answer_of_one_or_two_commands_round_trips(tokenizer):
    cmds = canonical_commands()
    answers = [format_answer([c]) for c in cmds] + [format_answer([a, b]) for a, b in itertools.product(cmds, cmds)]
    assert len(answers) > 2000
    for answer in answers:
        ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids, answer
        assert tokenizer.decode(ids) == answer
        assert parse_answer(tokenizer.decode(ids)) == parse_answer(answer)


def test_each_amount_is_one_token(tokenizer):
    ids = tokenizer("turn left 135, forward 0.75.", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["▁turn", "▁left", "▁135", ",", "▁forward", "▁0.75", "."]


def test_instructions_have_no_unknown_words(tokenizer):
    for text in instruction_corpus():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids, text
        assert tokenizer.decode(ids) == text


def test_chat_template_gives_the_prompt_format(tokenizer):
    text = tokenizer.apply_chat_template(prompt_messages("go to the red box"), tokenize=False,
                                         add_generation_prompt=True)
    assert text == prompt_text("go to the red box") == f"<s>{IMAGE}go to the red box{ANSWER}"
    full = tokenizer.apply_chat_template(prompt_messages("go to the red box")
                                         + [{"role": "assistant", "content": "stop."}], tokenize=False)
    assert full == f"<s>{IMAGE}go to the red box{ANSWER}stop.</s>"


def test_unknown_words_map_to_unk_and_save_reload(tokenizer, tmp_path):
    ids = tokenizer("jump to the red box", add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.unk_token_id and tokenizer.unk_token_id not in ids[1:]
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.get_vocab() == tokenizer.get_vocab()
    assert again.image_token == IMAGE and again.eos_token == "</s>"
    assert again("go to the blue ball", add_special_tokens=False)["input_ids"] == \
        tokenizer("go to the blue ball", add_special_tokens=False)["input_ids"]


def test_build_tokenizer_rejects_an_empty_vocabulary():
    with pytest.raises(ValueError, match="no words"):
        build_tokenizer([])

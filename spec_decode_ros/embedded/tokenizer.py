"""Word-level tokenizer shared by the embedded draft and target VLMs.

Every whitespace-separated word of the command language and of the instruction templates is one
token (``▁word``, SentencePiece-style, so decoding restores the spacing exactly); trailing
punctuation (``,`` ``.``) is a token of its own. Special tokens: ``<pad> <s> </s> <unk>``, the image
placeholder ``<image>`` (the processor expands it to one token per image patch) and ``<answer>``,
which closes the prompt. The prompt format is a chat template, so ``apply_chat_template`` works
as for any real VLM::

    <s><image>go to the red box<answer>turn left 30, forward 1.5.</s>
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK, IMAGE, ANSWER = "<pad>", "<s>", "</s>", "<unk>", "<image>", "<answer>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK, IMAGE, ANSWER)
SPACE = "▁"
PUNCTUATION = ",.;:!?"

# User turns may hold a string or a list of {"type": "image"} / {"type": "text", "text": ...} parts;
# system turns are ignored (the embedded models were not trained with one); an assistant turn is
# the answer followed by EOS.
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<image>{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}<answer>"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- eos_token -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<answer>{%- endif -%}"
)

_TRAILING_PUNCTUATION = Regex(r"[" + "".join("\\" + c for c in PUNCTUATION) + r"]+$")


def pre_tokenize(text: str) -> list[str]:
    """The token strings ``text`` splits into (before the vocabulary look-up)."""
    return [piece for piece, _ in _pre_tokenizer().pre_tokenize_str(" ".join(text.split()))]


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="always", split=True),
        pre_tokenizers.Split(_TRAILING_PUNCTUATION, behavior="isolated"),
    ])


def vocabulary_from_texts(texts: Iterable[str]) -> list[str]:
    """Sorted token strings needed to encode every text in ``texts`` without ``<unk>``."""
    pieces: set[str] = set()
    for text in texts:
        pieces.update(p for p in pre_tokenize(text) if p != SPACE)  # a lone "▁" precedes bare punctuation
    return sorted(pieces)


def build_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary covers every word of ``texts``.

    ``texts`` are example sentences or bare words (e.g. the grammar's answer vocabulary and the
    instruction templates' words); the vocabulary order is deterministic (sorted).
    """
    pieces = vocabulary_from_texts(texts)
    if not pieces:
        raise ValueError("build_tokenizer: no words given; pass the answer vocabulary and instruction words")
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()])
    core.pre_tokenizer = _pre_tokenizer()
    core.decoder = decoders.Metaspace(replacement=SPACE, prepend_scheme="always", split=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        extra_special_tokens={"image_token": IMAGE, "answer_token": ANSWER},
        padding_side="left",
        model_max_length=512,
        chat_template=CHAT_TEMPLATE,
    )
    return tokenizer


def prompt_messages(instruction: str) -> list[dict[str, object]]:
    """The chat messages of one robot request: the image, then the instruction."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]


def prompt_text(instruction: str) -> str:
    """The prompt string (before image-token expansion) that the chat template gives ``instruction``."""
    return f"{BOS}{IMAGE}{instruction}{ANSWER}"


def instruction_corpus() -> list[str]:
    """Every instruction the simulator's expert can give (templates × colours × shapes)."""
    from spec_decode_ros.sim.expert import TEMPLATES
    from spec_decode_ros.sim.scene import COLORS, SHAPES

    return [t.format(color=c, shape=s) for t in TEMPLATES for c in COLORS for s in SHAPES]


def default_tokenizer() -> PreTrainedTokenizerFast:
    """The embedded pair's tokenizer: the grammar's answer vocabulary plus the instruction words."""
    from spec_decode_ros.control.grammar import answer_vocabulary

    return build_tokenizer(answer_vocabulary() + instruction_corpus())

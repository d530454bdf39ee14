"""Qwen3-ASR's answer read one way for every engine (`asr.engines.qwen3_output`): the tag grammar, the
probe's stopping decision, the byte-level tokens, and the same reading as the real tokenizer's."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from asr.engines.qwen3_output import (
    ASR_TEXT_MARKER,
    AnswerToken,
    LanguageTag,
    ParsedOutput,
    byte_level_bytes,
    parse_language_prefix,
    parse_model_output,
    read_text,
    read_tokens,
    spelled_text,
    tag_probability,
)

# --- parse_model_output -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("language Chinese<asr_text>你好", ParsedOutput("Chinese", "你好", True)),
        ("language English<asr_text>hello", ParsedOutput("English", "hello", True)),
        ("language None<asr_text>", ParsedOutput(None, "", True)),
        ("language none<asr_text>  ", ParsedOutput(None, "", True)),
        ("language Cantonese<asr_text>你食咗饭未呀", ParsedOutput("Cantonese", "你食咗饭未呀", True)),
        ("language Sichuan dialect<asr_text>要得", ParsedOutput("Sichuan dialect", "要得", True)),
        ("assistant\nlanguage English<asr_text>hello there", ParsedOutput("English", "hello there", True)),
        (
            "<|im_start|>assistant\nlanguage Chinese<asr_text>好的<|im_end|>",
            ParsedOutput("Chinese", "好的", True),
        ),
        ("  \n language English<asr_text>  spaced out \n", ParsedOutput("English", "spaced out", True)),
        ("just some words without a tag", ParsedOutput(None, "just some words without a tag", False)),
        ("language is what we study", ParsedOutput(None, "language is what we study", False)),
        ("language Chin", ParsedOutput(None, "", False)),
        ("assistant\nlangu", ParsedOutput(None, "", False)),
        ("", ParsedOutput(None, "", False)),
        ("<asr_text>无标签", ParsedOutput(None, "无标签", True)),
    ],
)
def test_parse_model_output(raw: str, expected: ParsedOutput) -> None:
    assert parse_model_output(raw) == expected


def test_parse_keeps_marker_like_text_after_first_marker() -> None:
    assert parse_model_output("language English<asr_text>a <asr_text> b").text == "a <asr_text> b"


# --- parse_language_prefix ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partial", "expected"),
    [
        ("", LanguageTag("pending")),
        ("lang", LanguageTag("pending")),
        ("language", LanguageTag("pending")),
        ("language Jap", LanguageTag("pending")),
        ("assistant\nlanguage Eng", LanguageTag("pending")),
        ("language Japanese<asr_text>", LanguageTag("complete", "Japanese")),
        ("language Chinese<asr_text>你", LanguageTag("complete", "Chinese")),
        ("language None<asr_text>", LanguageTag("complete", None)),
        # a known name nothing extends is certain before its marker; one another name extends is not
        ("language Japanese", LanguageTag("complete", "Japanese")),
        ("language English", LanguageTag("complete", "English")),
        ("language None", LanguageTag("complete", None)),
        ("language Sichuan", LanguageTag("pending")),
        ("language Gan", LanguageTag("pending")),  # Gansu
        ("language Southern", LanguageTag("pending")),
        ("Hello every", LanguageTag("absent")),
        ("language is", LanguageTag("absent")),
        ("你好", LanguageTag("absent")),
    ],
)
def test_parse_language_prefix(partial: str, expected: LanguageTag) -> None:
    assert parse_language_prefix(partial) == expected


def test_tag_probability_is_product_of_name_tokens() -> None:
    assert tag_probability([0.9, 0.5]) == pytest.approx(0.45)
    assert tag_probability([0.97]) == pytest.approx(0.97)
    assert tag_probability([]) == 1.0


# --- tokens -------------------------------------------------------------------------------------------------


def _tokens(tokenizer, text: str, prob: float = 0.9) -> list[AnswerToken]:
    ids = tokenizer.encode(text, add_special_tokens=False)
    return [AnswerToken(byte_level_bytes(tokenizer.convert_ids_to_tokens(i)), prob) for i in ids]


def test_the_answer_reads_as_the_tokenizer_decodes_it(english_checkpoint: Path) -> None:
    """Random ids of the real vocabulary, special tokens and the marker among them: the torch-free reading is
    the tokenizer's own `decode(skip_special_tokens=True)`, byte for byte."""
    tokenizer = AutoTokenizer.from_pretrained(english_checkpoint)
    marker = tokenizer.convert_tokens_to_ids(ASR_TEXT_MARKER)
    added = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    special = {*tokenizer.all_special_ids, *added}
    rng = random.Random(7)
    for _ in range(50):
        ids = [rng.randrange(len(tokenizer)) for _ in range(rng.randrange(1, 30))]
        ids.insert(rng.randrange(len(ids)), marker)
        ids.insert(rng.randrange(len(ids)), min(special))
        tokens = [
            AnswerToken(
                b"" if i in special else byte_level_bytes(tokenizer.convert_ids_to_tokens(i)),
                marker=i == marker,
            )
            for i in ids
        ]
        assert spelled_text(tokens) == tokenizer.decode(ids, skip_special_tokens=True)


def test_a_chinese_answer_gives_language_text_and_pieces_with_probabilities(english_checkpoint: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(english_checkpoint)
    tag = _tokens(tokenizer, "language Chinese", 0.5)
    tokens = [*tag, AnswerToken(b"", 0.99, marker=True), *_tokens(tokenizer, "你好，龘", 0.8)]
    tokens[-1] = AnswerToken(tokens[-1].spelled, 0.3)  # the last byte of 龘 is the least sure
    output = read_tokens(tokens, None)
    assert (output.language, output.text, output.tokens) == ("Chinese", "你好，龘", len(tokens))
    assert output.language_prob == pytest.approx(tag_probability([0.5] * (len(tag) - 1)))
    assert "".join(p.text for p in output.pieces) == "你好，龘"
    assert output.pieces[-1].text == "龘" and output.pieces[-1].probability == 0.3


def test_an_engine_without_probabilities_gets_the_same_text_and_no_marks() -> None:
    tokens = [AnswerToken(b"language English"), AnswerToken(b"", marker=True), AnswerToken(b" hello")]
    output = read_tokens(tokens, None)
    assert (output.language, output.text, output.language_prob, output.pieces) == (
        "English",
        "hello",
        None,
        (),
    )
    assert read_text("language English<asr_text> hello", None, 3) == output


def test_a_forced_language_answer_is_all_transcript() -> None:
    output = read_tokens([AnswerToken(b" language is fun", 0.7)], "English")
    assert (output.language, output.text, output.language_prob) == ("English", "language is fun", None)
    assert [p.text for p in output.pieces] == ["language is fun"]
    assert read_text(" language is fun", "English", 1).text == "language is fun"

"""Qwen3-ASR's answer, read one way for every engine: no torch, no tokenizer, no model.

The model answers ``language <Name><asr_text><transcript>`` (``language None<asr_text>`` when it hears no
speech). Whatever runs the model (transformers in this process, a vLLM server) hands over what it generated,
as tokens (the bytes each one spells and the probability it was chosen with) or, lacking those, as text, and
gets back the same `ChunkOutput`: the language, the transcript, the language name's probability and the
text's pieces with theirs. So a second engine writes its transport alone, never this grammar again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from asr.engines.protocol import ChunkOutput
from asr.langid import NO_SPEECH, TAG_NAMES
from asr.outputs.confidence import fit_pieces
from asr.outputs.transcript import Piece

ASR_TEXT_MARKER = "<asr_text>"
_TAG_WORD = "language"

# "language" + a name of at most a few tokens + "<asr_text>": an early probe's budget, and where a tag ends at
# the latest when reading a language's probability.
MAX_TAG_TOKENS = 12

_PREAMBLE = re.compile(r"^\s*(?:<\|im_start\|>)?\s*assistant\s*\n")
_TRAILING_SPECIALS = re.compile(r"(?:\s*<\|(?:im_end|endoftext)\|>)+\s*$")


@dataclass(frozen=True)
class ParsedOutput:
    """One decoded answer split into the model's language name and the transcript.

    `well_formed` is False when the `<asr_text>` marker is missing (the model skipped the tag, or generation
    was cut inside it); callers then must not trust `language`.
    """

    language: str | None
    text: str
    well_formed: bool


TagState = Literal["pending", "complete", "absent"]


@dataclass(frozen=True)
class LanguageTag:
    """What the text generated so far says about the language tag.

    * ``pending``: still inside the tag (``language Chin``) — keep generating.
    * ``complete``: the marker appeared, or the name can't grow any more; `language` is the model's name,
      None for no speech.
    * ``absent``: the text does not look like a tag (e.g. the language was forced) — never stop on it.
    """

    state: TagState
    language: str | None = None


def _strip_decoding_noise(raw: str) -> str:
    """Drop the chat-template debris a decode with special tokens kept leaves around the answer."""
    return _TRAILING_SPECIALS.sub("", _PREAMBLE.sub("", raw, count=1)).strip()


def _language_from_prefix(prefix: str) -> str | None:
    """The language name in the text before the marker; None for ``language None`` or an empty tag."""
    first_line = next((line.strip() for line in prefix.splitlines() if line.strip()), "")
    if first_line.lower().startswith(_TAG_WORD):
        first_line = first_line[len(_TAG_WORD) :].strip()
    if not first_line or first_line.lower() == NO_SPEECH.lower():
        return None
    return first_line


def _could_be_tag(text: str) -> bool:
    """True if `text` is a tag cut short: a prefix of "language", or "language " + a known name's prefix."""
    lowered = text.lower()
    if len(lowered) <= len(_TAG_WORD):
        return _TAG_WORD.startswith(lowered)
    if not lowered.startswith(_TAG_WORD + " "):
        return False
    partial_name = lowered[len(_TAG_WORD) :].strip()
    return any(name.startswith(partial_name) for name in TAG_NAMES)


def parse_language_prefix(partial: str) -> LanguageTag:
    """Classify the text decoded so far: the language probe reads its tag with this.

    A tag is complete at its marker, or one token earlier when the name is already certain: a known name
    that no other known name extends ("language English" is complete; "language Sichuan" may still become
    "Sichuanese" and waits). That spares the probe one decoding step at batch 1.
    """
    text = _strip_decoding_noise(partial)
    if ASR_TEXT_MARKER in text:
        return LanguageTag("complete", _language_from_prefix(text.split(ASR_TEXT_MARKER, 1)[0]))
    lowered = text.lower()
    if lowered.startswith(_TAG_WORD + " "):
        name = lowered[len(_TAG_WORD) :].strip()
        if name in TAG_NAMES and not any(o.startswith(name) and o != name for o in TAG_NAMES):
            return LanguageTag("complete", _language_from_prefix(text))
    return LanguageTag("pending" if _could_be_tag(text) else "absent")


def parse_model_output(raw: str) -> ParsedOutput:
    """Split a full decoded answer into language and transcript, tolerating what generation can leave behind.

    A truncated tag yields an empty transcript (nothing was transcribed yet); any other marker-less string is
    kept whole as the transcript, because dropping words the model did produce is worse than a missing tag.
    """
    text = _strip_decoding_noise(raw)
    if ASR_TEXT_MARKER in text:
        prefix, transcript = text.split(ASR_TEXT_MARKER, 1)
        return ParsedOutput(_language_from_prefix(prefix), transcript.strip(), well_formed=True)
    return ParsedOutput(None, "" if _could_be_tag(text) else text, well_formed=False)


def tag_probability(name_token_probs: Sequence[float]) -> float:
    """One chunk's confidence in its language: the product of the softmax probabilities of the tokens spelling
    the name (between "language" and `<asr_text>`). The product is the probability of the whole name, so a
    multi-token name is not flattered by one confident token."""
    return min(1.0, max(0.0, math.prod(name_token_probs)))


@dataclass(frozen=True)
class AnswerToken:
    """One generated token as any engine can describe it.

    `spelled` is the UTF-8 bytes it adds to the answer (a Chinese character often takes two or three tokens
    of one or two bytes each); empty for a control token that spells nothing. `marker` is the `<asr_text>`
    token that closes the language tag. `prob` is the probability the engine chose it with, None where the
    engine gives none.
    """

    spelled: bytes
    prob: float | None = None
    marker: bool = False


@cache
def _byte_of() -> dict[str, int]:
    """GPT-2's byte-level alphabet read backwards: each printable character a byte-level BPE token uses for
    one byte (bytes that print as themselves keep their character; the rest move to U+0100 and up)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    shifted = [byte for byte in range(256) if byte not in printable]
    chars = {byte: chr(byte) for byte in printable} | {byte: chr(256 + n) for n, byte in enumerate(shifted)}
    return {char: byte for byte, char in chars.items()}


def byte_level_bytes(spelled: str) -> bytes:
    """The bytes a byte-level BPE token string stands for (Qwen's tokenizer spells "你" as "ä½ł"); a token
    that is not byte-level (an added token such as `<asr_text>`) stands for its own UTF-8."""
    byte_of = _byte_of()
    if set(spelled) <= byte_of.keys():
        return bytes(byte_of[char] for char in spelled)
    return spelled.encode()


def _pieces(tokens: Sequence[AnswerToken]) -> list[Piece]:
    """The text the tokens spell, one piece per whole character run, each with its token's probability.

    A character split across tokens waits for its last byte and takes the least probability among them.
    """
    pieces: list[Piece] = []
    pending, least = b"", 1.0
    for token in tokens:
        if token.marker or not token.spelled or token.prob is None:
            continue
        pending += token.spelled
        least = min(least, token.prob)
        try:
            text = pending.decode("utf-8")
        except UnicodeDecodeError:  # a character split across tokens: wait for its last byte
            continue
        pieces.append(Piece(text, least))
        pending, least = b"", 1.0
    return pieces


def name_probability(tokens: Sequence[AnswerToken]) -> float | None:
    """The language name's probability: its tokens after `language`, up to `<asr_text>` (or the tag's
    budget); None where the engine gives no probabilities."""
    end = next((at for at, token in enumerate(tokens) if token.marker), MAX_TAG_TOKENS)
    probs = [token.prob for token in tokens[1:end]]
    if not probs or any(prob is None for prob in probs):
        return None
    return tag_probability([prob for prob in probs if prob is not None])


def spelled_text(tokens: Sequence[AnswerToken]) -> str:
    """The answer as text, the marker written out, as a tokenizer decodes it with special tokens skipped."""
    spelled = b"".join(ASR_TEXT_MARKER.encode() if token.marker else token.spelled for token in tokens)
    return spelled.decode("utf-8", errors="replace")


def read_tokens(tokens: Sequence[AnswerToken], forced: str | None) -> ChunkOutput:
    """One chunk's answer from its generated tokens (end-of-text and padding left out).

    `forced` is the language the request forced (its tag was prefilled, so the tokens are the transcript
    alone), None when the model named it.
    """
    raw = spelled_text(tokens)
    if forced is not None:
        text = raw.strip()
        return ChunkOutput(forced, text, raw, None, len(tokens), fit_pieces(_pieces(tokens), text))
    parsed = parse_model_output(raw)
    marker = next((at for at, token in enumerate(tokens) if token.marker), None)
    text_tokens = tokens[marker + 1 :] if marker is not None else tokens
    return ChunkOutput(
        language=parsed.language if parsed.well_formed else None,
        text=parsed.text,
        raw=raw,
        language_prob=name_probability(tokens),
        tokens=len(tokens),
        pieces=fit_pieces(_pieces(text_tokens), parsed.text),
    )


def read_text(raw: str, forced: str | None, tokens: int) -> ChunkOutput:
    """One chunk's answer from its text alone, for an engine that returns no tokens: no probabilities."""
    if forced is not None:
        return ChunkOutput(forced, raw.strip(), raw, None, tokens)
    parsed = parse_model_output(raw)
    language = parsed.language if parsed.well_formed else None
    return ChunkOutput(language, parsed.text, raw, None, tokens)

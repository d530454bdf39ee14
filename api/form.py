"""A transcription request as the `openai` SDK sends it: multipart/form-data, read as it arrives.

The audio part is written straight into the job's own folder (`JobWorkspace.upload_path`, 0600 in a 0700
folder), never held whole in memory and never spooled anywhere else (Starlette's own form parser spools
files to the temp folder); the other fields are small texts, gathered and then checked in one place
(`TranscriptionRequest.of`). Arrays come as repeated `name[]` fields; `timestamp_granularities` is taken
with or without the brackets, as speaches does. The client's name for its file is kept only to be redacted
from the logs.
"""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import ApiError
from api.formats import RESPONSE_FORMATS, ResponseFormat
from asr.langid import language_named

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELDS_BYTES = 256 * 1024  # every field but the file, together: a prompt is a few hundred words at most
#: known voices' clips as data URLs, together: 8 clips of 30 s of 16-bit 16 kHz WAV, base64 (a few MB)
MAX_REFERENCES_BYTES = 16 * 1024 * 1024
_REFERENCES = "known_speaker_references"
_LISTS = ("timestamp_granularities", "include", "known_speaker_names", _REFERENCES)
_GRANULARITIES = frozenset({"segment", "word"})
_TRUE = {"true": True, "1": True, "false": False, "0": False}
_KNOWN = frozenset(
    {
        "model",
        "language",
        "prompt",
        "response_format",
        "temperature",
        "timestamp_granularities",
        "stream",
        "chunking_strategy",
        "speakers",
        "known_speaker_names",
        _REFERENCES,
    }
)


@dataclass
class ReceivedForm:
    """The request's fields (each name's values, in order) and what was written of its file."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    file_bytes: int | None = None  # None: no file part came
    file_name: str | None = None


class _Parts:
    """python-multipart's callbacks: headers per part, field text gathered, file bytes written to `target`."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.form = ReceivedForm()
        self._header = b""
        self._value = b""
        self._disposition = b""
        self._name: str | None = None
        self._text = bytearray()
        self._out: BinaryIO | None = None
        self._field_bytes = 0
        self._reference_bytes = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._add_header(data[start:end], b""),
            "on_header_value": lambda data, start, end: self._add_header(b"", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._disposition, self._name, self._text = b"", None, bytearray()

    def _add_header(self, name: bytes, value: bytes) -> None:
        self._header += name
        self._value += value

    def _header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._disposition = self._value
        self._header, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise ApiError(400, "api_form_invalid")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:
            return
        if self._name != "file" or self.form.file_bytes is not None:
            raise ApiError(400, "api_field_unknown", {"field": self._name}, param=self._name)
        self.form.file_name = options[b"filename"].decode("utf-8", "replace")
        self.form.file_bytes = 0
        self._out = self.target.open("wb")
        self.target.chmod(0o600)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None:
            self._out.write(data[start:end])
            self.form.file_bytes = (self.form.file_bytes or 0) + end - start
            return
        if (self._name or "").startswith(_REFERENCES):
            self._reference_bytes += end - start
        else:
            self._field_bytes += end - start
        if self._field_bytes > MAX_FIELDS_BYTES or self._reference_bytes > MAX_REFERENCES_BYTES:
            raise ApiError(400, "api_form_invalid")
        self._text += data[start:end]

    def _end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        elif self._name is not None:
            self.form.fields.setdefault(self._name, []).append(self._text.decode("utf-8", "replace"))

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


async def receive_form(content_type: str, body: AsyncIterator[bytes], target: Path) -> ReceivedForm:
    """Read a multipart body, its file into `target`; raises `ApiError` 400 for anything but one."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(400, "api_form_invalid")
    parts = _Parts(target)
    try:
        parser = MultipartParser(options[b"boundary"], parts.callbacks())
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except ValueError:  # python-multipart's MultipartParseError and friends: not a well-formed body
        raise ApiError(400, "api_form_invalid") from None
    finally:
        parts.close()
    if parts.form.file_bytes is None:
        raise ApiError(400, "api_form_invalid", param="file")
    return parts.form


@dataclass(frozen=True)
class TranscriptionRequest:
    """What a client asked for, checked."""

    model: str
    response_format: ResponseFormat = "json"
    language: str | None = None  # the model's name of the language to force
    prompt: str | None = None
    words: bool = False
    speakers: bool = False
    stream: bool = False
    known: tuple[tuple[str, bytes], ...] = ()  # known voices: (name, the clip's bytes)

    @classmethod
    def of(cls, form: ReceivedForm, served: str) -> TranscriptionRequest:
        """Check every field; raises `ApiError` 400 naming the first one at fault."""
        values: dict[str, list[str]] = {}
        for name, given in form.fields.items():
            bare = name[:-2] if name.endswith("[]") else name
            if bare not in _KNOWN:
                raise ApiError(400, "api_field_unknown", {"field": name}, param=name)
            values.setdefault(bare, []).extend(given)
        single = {name: given[-1].strip() for name, given in values.items() if name not in _LISTS}

        model = single.get("model", "")
        if model not in (served, served.rsplit("/", 1)[-1]):
            raise ApiError(400, "api_model_unknown", {"model": model, "served": served}, param="model")
        fmt = single.get("response_format") or "json"
        if fmt not in RESPONSE_FORMATS:
            accepted = ", ".join(RESPONSE_FORMATS)
            raise _invalid("response_format", accepted)
        language = None
        if single.get("language"):
            language = language_named(single["language"])
            if language is None:
                unknown = {"language": single["language"]}
                raise ApiError(400, "api_language_unknown", unknown, param="language")
        _check_temperature(single.get("temperature"))
        granularities = {g.strip() for g in values.get("timestamp_granularities", []) if g.strip()}
        if granularities - _GRANULARITIES:
            raise _invalid("timestamp_granularities", "segment, word")
        if granularities and fmt != "verbose_json":
            raise _invalid("timestamp_granularities", "only with response_format=verbose_json")
        stream = _switch(single, "stream")
        if stream and fmt not in ("json", "text"):
            raise _invalid("stream", "streaming answers in response_format json or text")
        if single.get("chunking_strategy", "auto") != "auto":
            raise _invalid("chunking_strategy", "auto (segments always end at pauses in the speech)")
        known = _known_speakers(values.get("known_speaker_names", []), values.get(_REFERENCES, []))
        return cls(
            model=model,
            response_format=cast(ResponseFormat, fmt),
            language=language,
            prompt=single.get("prompt") or None,
            words="word" in granularities,
            speakers=fmt == "diarized_json" or _switch(single, "speakers") or bool(known),
            stream=stream,
            known=known,
        )


def _known_speakers(names: list[str], references: list[str]) -> tuple[tuple[str, bytes], ...]:
    """OpenAI's `known_speaker_names[]` and `known_speaker_references[]`: one clip (a data URL, as the SDK
    sends it) per name, in order."""
    names = [name.strip() for name in names]
    if len(references) > len(names) or any(not name for name in names):
        raise ApiError(400, "known_voice_no_name", param="known_speaker_names", code="known_voice_no_name")
    if len(names) > len(references):
        missing = {"name": names[len(references)]}
        raise ApiError(400, "known_voice_no_clip", missing, param=_REFERENCES, code="known_voice_no_clip")
    known = []
    for name, reference in zip(names, references, strict=True):
        header, comma, data = reference.strip().partition(",")
        if not (comma and header.lower().startswith("data:") and header.lower().endswith(";base64")):
            raise _not_audio(name)
        try:
            clip = base64.b64decode(data, validate=True)
        except ValueError:
            raise _not_audio(name) from None
        known.append((name, clip))
    return tuple(known)


def _not_audio(name: str) -> ApiError:
    return ApiError(
        400, "known_voice_not_audio", {"name": name}, param=_REFERENCES, code="known_voice_not_audio"
    )


def _invalid(name: str, accepted: str) -> ApiError:
    return ApiError(400, "api_field_invalid", {"field": name, "accepted": accepted}, param=name)


def _switch(single: dict[str, str], name: str) -> bool:
    value = single.get(name, "false").lower()
    if value not in _TRUE:
        raise _invalid(name, "true or false")
    return _TRUE[value]


def _check_temperature(value: str | None) -> None:
    """Decoding is greedy, always: 0 is what it does; asking for sampling is refused rather than ignored."""
    if value is None or value == "":
        return
    try:
        temperature = float(value)
    except ValueError:
        temperature = math.nan
    if temperature != 0:
        raise _invalid("temperature", "0 only (decoding is greedy)")

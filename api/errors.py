"""Errors in the OpenAI API's shape: `{"error": {"message", "type", "param", "code"}}` and its HTTP status.

The message is the sentence the page shows for the same problem (`asr.i18n`), in the client's language
(`Accept-Language`), so the SDK's `BadRequestError` carries what a user can act on. A job's failure code is
mapped once here: bad audio 400, a language the policy refuses 400 with code `language_not_accepted`, too
long 413, the engine or its server unavailable 503, anything unexpected 500. Nothing here holds a file name
or transcript text: messages are built from codes and the parameters the page would show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse

from asr.i18n import Lang, t
from asr.job import Notice

_UNAVAILABLE = ("model_", "server_", "speakers_unavailable", "aligner_")


@dataclass
class ApiError(Exception):
    """What to answer instead of a transcript. Not frozen: Python writes an exception's `__traceback__`
    as it passes through a context manager (a frozen one raised inside the job's `with` was a 500)."""

    status: int
    message_code: str  # a key of `asr.i18n.TEXT`
    params: Mapping[str, object] = field(default_factory=dict)
    param: str | None = None  # the request field at fault
    code: str | None = None  # OpenAI's machine-readable code
    retry_after_s: int | None = None

    @property
    def type(self) -> str:
        if self.status == 401:
            return "authentication_error"
        if self.status == 429:
            return "rate_limit_error"
        return "server_error" if self.status >= 500 else "invalid_request_error"

    @classmethod
    def of_job(cls, reason: Notice) -> ApiError:
        """The answer for a job that ended without a transcript."""
        code = reason.code
        if code.startswith("language_refused"):
            return cls(400, code, reason.params, code="language_not_accepted")
        if code == "too_long":
            return cls(413, code, reason.params, param="file", code="audio_too_long")
        if code == "job_unexpected":
            return cls(500, code, reason.params)
        if code.startswith(_UNAVAILABLE):
            return cls(503, code, reason.params, code="engine_unavailable")
        return cls(400, code, reason.params, param="file", code=code)


def client_language(request: Request) -> Lang:
    """Chinese for a client whose first preference is Chinese, else English."""
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"


def error_body(error: ApiError, lang: Lang = "en") -> dict[str, object]:
    """`{"error": {...}}`: the body of an error answer, and the data of a stream's error event."""
    message = t(error.message_code, lang, **error.params)
    heard = error.params.get("heard")
    if heard:
        message += f" (heard: {heard})" if lang == "en" else f"（识别为：{heard}）"
    return {"error": {"message": message, "type": error.type, "param": error.param, "code": error.code}}


def error_response(error: ApiError, lang: Lang = "en") -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s is not None else None
    return JSONResponse(error_body(error, lang), status_code=error.status, headers=headers)

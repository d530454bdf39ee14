"""One exception type for every problem a user must be told about.

Stages raise `UserFacingError(code)`; the UI and the CLI turn the code into one sentence in the user's
language through `asr.i18n`. Carrying a code instead of a message keeps file names and transcript text out of
exception strings, so nothing private can reach a log or a traceback by way of an error.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """A failure with a known cause; `code` is a key of `asr.i18n.TEXT`."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

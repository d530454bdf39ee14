"""Content-free logging: no transcript, no file name and no exception message ever reaches a log line.

Redaction happens in the LogRecord factory, not in a handler filter, because Streamlit's loggers do not
propagate to the root and keep their own handlers; a factory sees every record of every logger, and
`warnings` too once they are captured into logging.

Policy: our own loggers (`app`, `asr`, `audio`, `cleanup`, `privacy`, ...) log fixed event strings plus
numbers, so any other argument is replaced. Other libraries' messages pass through a redactor that removes
the strings the app registered for the running job (`sensitive(file_name, transcript)`). An exception keeps
its traceback frames (code locations) but its message, which may quote user data, becomes its type name.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

REDACTED = "<redacted>"
FORMAT = "[%(levelname)s] %(message)s"
OWN_LOGGERS = frozenset({"app", "asr", "audio", "bench", "cleanup", "privacy", "ui"})
_MIN_PIECE = 3

_lock = threading.Lock()
_sensitive: dict[str, int] = {}
_installed = False


def _pieces(text: str) -> set[str]:
    """The text plus each of its lines, so a library that logs one segment of a transcript is caught too."""
    pieces = {text.strip()} | {line.strip() for line in text.splitlines()}
    return {piece for piece in pieces if len(piece) >= _MIN_PIECE}


def register_sensitive(*texts: str) -> None:
    with _lock:
        for text in texts:
            for piece in _pieces(text):
                _sensitive[piece] = _sensitive.get(piece, 0) + 1


def unregister_sensitive(*texts: str) -> None:
    with _lock:
        for text in texts:
            for piece in _pieces(text):
                if _sensitive.get(piece, 0) <= 1:
                    _sensitive.pop(piece, None)
                else:
                    _sensitive[piece] -= 1


@contextmanager
def sensitive(*texts: str) -> Iterator[None]:
    """Redact `texts` from every log line while the block runs (the upload's name, then the transcript)."""
    register_sensitive(*texts)
    try:
        yield
    finally:
        unregister_sensitive(*texts)


def redact(message: str) -> str:
    with _lock:
        pieces = sorted(_sensitive, key=len, reverse=True)
    for piece in pieces:
        message = message.replace(piece, REDACTED)
    return message


def _is_number(value: object) -> bool:
    return isinstance(value, int | float)


def _withheld_exception(exc_info: tuple[type[BaseException], BaseException, TracebackType | None]) -> str:
    """Frame locations only: no source lines (literals in code) and no message (runtime data)."""
    frames = "".join(
        f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n'
        for frame in traceback.extract_tb(exc_info[2])
    )
    return f"Traceback (most recent call last):\n{frames}{exc_info[0].__name__} (message withheld)"


def scrub(record: logging.LogRecord) -> None:
    """Make `record` content-free in place (see the module docstring for the policy)."""
    if record.name.split(".", 1)[0] in OWN_LOGGERS:
        args = record.args if isinstance(record.args, tuple) else ()
        if not isinstance(record.msg, str):
            record.msg, args = type(record.msg).__name__, ()
        record.args = tuple(arg if _is_number(arg) else REDACTED for arg in args)
        try:
            record.msg = record.msg % record.args if record.args else record.msg
        except (TypeError, ValueError):
            record.msg = f"{record.msg} (arguments withheld)"
        record.args = ()
    else:
        try:
            message = record.getMessage()
        except Exception as exc:  # a broken %-format must not kill logging, nor leak its arguments
            message = f"unformattable log message ({type(exc).__name__})"
        record.msg, record.args = redact(message), ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = _withheld_exception(record.exc_info)
        record.exc_info = None


def redacting_factory(base: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: object, **kwargs: object) -> logging.LogRecord:
        record = base(*args, **kwargs)
        scrub(record)
        return record

    return make


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("privacy.uncaught").error("Uncaught exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_thread(args: object) -> None:
    _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)  # type: ignore[attr-defined]


def install_logging(level: int = logging.INFO) -> None:
    """Idempotent: redacting factory, `[LEVEL] message` on the root, warnings and uncaught errors routed."""
    global _installed
    if _installed:
        return
    _installed = True
    logging.setLogRecordFactory(redacting_factory(logging.getLogRecordFactory()))
    root = logging.getLogger()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_thread

"""The app's settings, read from the environment once per entry point and checked before any work starts.

Every variable the README documents is parsed here and nowhere else, at the moment the page, the CLI or the
bench starts (never at import), into one frozen `Settings`. A value that cannot be used stops the start with
one sentence naming the variable, the value and what is accepted: a typo in `ASR_BATCH_SIZE` must not be
ignored silently, and `ASR_MAX_SECONDS=3h` must not end in a traceback. `VARIABLES` is also what
`python -m asr --help` prints, so the documentation and the parser cannot drift apart.

The cleanup package reads `CLEANUP_DISABLED` itself (it runs in exit handlers and sweeps, below `asr`); it
accepts exactly what is validated here, so the two can never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from asr.engines.endpoint import Endpoint
from asr.engines.registry import BACKEND_ENV, DEFAULT_ENGINE, ENGINES, SERVER_ENGINE
from asr.model_source import ALIGNER_ENV, DEFAULT_ALIGNER_ID, DEFAULT_MODEL_ID, MODEL_ENV
from asr.outputs.confidence import DEFAULT_LOW_CONFIDENCE

Precision = Literal["float32", "bfloat16", "float16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DEFAULT_MAX_SECONDS = 3 * 3600.0
_SWITCH = {"": False, "0": False, "1": True}
SERVER_ENV = "ASR_SERVER"
SERVER_KEY_ENV = "ASR_SERVER_KEY"
SERVER_KEY_FILE_ENV = "ASR_SERVER_KEY_FILE"
API_KEY_ENV = "ASR_API_KEY"
API_KEY_FILE_ENV = "ASR_API_KEY_FILE"


@dataclass(frozen=True)
class Settings:
    """What the user configured, validated; None means "decide by the machine"."""

    backend: str = DEFAULT_ENGINE  # a name in `asr.engines.registry.ENGINES`
    model: str = DEFAULT_MODEL_ID
    aligner_model: str = DEFAULT_ALIGNER_ID
    max_seconds: float = DEFAULT_MAX_SECONDS
    batch_size: int | None = None
    dtype: Precision | None = None
    cpu_int8: bool = False
    cleanup_disabled: bool = False
    ffmpeg: str | None = None  # FFMPEG_BINARY; None: the pinned binary (see asr.speech.audio.find_ffmpeg)
    low_confidence: float = DEFAULT_LOW_CONFIDENCE
    server: Endpoint | None = None  # ASR_SERVER: where a server engine sends audio (and nowhere else)
    server_key: str | None = field(default=None, repr=False)  # never printed, logged or shown
    api_key: str | None = field(default=None, repr=False)  # what this app's own API asks its clients for

    @property
    def audio_destination(self) -> str | None:
        """Where audio leaves this computer for, as the page and the CLI say it; None: it never does."""
        return self.server.address if self.server else None


class SettingsError(ValueError):
    """A variable holds a value the app cannot use; `accepts` is an `asr.i18n` key saying what it can."""

    def __init__(self, variable: str, value: str) -> None:
        super().__init__(variable)
        self.variable = variable
        self.value = value
        self.accepts = f"accepts_{variable}"


@dataclass(frozen=True)
class Variable:
    """One documented environment variable: its name, its default in words, and what it does."""

    name: str
    default: str
    purpose: str


VARIABLES: tuple[Variable, ...] = (
    Variable(BACKEND_ENV, DEFAULT_ENGINE, "the engine that runs the model: " + ", ".join(ENGINES)),
    Variable(
        SERVER_ENV,
        "none",
        f"with {BACKEND_ENV}={SERVER_ENGINE}: the vLLM server's http(s)://host:port, where audio goes",
    ),
    Variable(SERVER_KEY_ENV, "none", "the server's API key (never logged or shown)"),
    Variable(SERVER_KEY_FILE_ENV, "none", f"a file holding that key, instead of {SERVER_KEY_ENV}"),
    Variable(
        API_KEY_ENV,
        "none (the API answers loopback only)",
        "the key clients of this app's /v1 API must send (needed to serve beyond loopback)",
    ),
    Variable(API_KEY_FILE_ENV, "none", f"a file holding that key, instead of {API_KEY_ENV}"),
    Variable(MODEL_ENV, DEFAULT_MODEL_ID, "model folder or Hugging Face id in the local cache"),
    Variable(ALIGNER_ENV, DEFAULT_ALIGNER_ID, "forced aligner for word timestamps, loaded only when asked"),
    Variable("ASR_MAX_SECONDS", "10800 (3 h)", "longest recording accepted, in seconds"),
    Variable("ASR_BATCH_SIZE", "by free memory, up to 8 on CPU and 32 on GPU", "chunks decoded together"),
    Variable(
        "ASR_DTYPE",
        "float16 on CUDA; bfloat16 on CPUs with bf16 instructions, else float32",
        "precision: float32, bfloat16 or float16",
    ),
    Variable("ASR_CPU_INT8", "0", "1: int8 text decoder on CPU (faster; check its output on your audio)"),
    Variable("CLEANUP_DISABLED", "0", "1: keep each job's temporary folder (debugging only)"),
    Variable(
        "FFMPEG_BINARY", "the ffmpeg of the imageio-ffmpeg wheel", "path of another ffmpeg to decode with"
    ),
    Variable(
        "ASR_LOW_CONFIDENCE",
        str(DEFAULT_LOW_CONFIDENCE),
        "words the model gave less probability than this are marked for checking (between 0 and 1)",
    ),
)


def _text(value: str) -> str:
    return value


def _engine(value: str) -> str:
    if value not in ENGINES:
        raise ValueError(value)
    return value


def _key_file(value: str) -> str:
    key = Path(value).expanduser().read_text(encoding="utf-8").strip()  # OSError for a missing file
    if not key or any(char.isspace() for char in key):
        raise ValueError(value)
    return key


def _key(value: str) -> str:
    if any(char.isspace() for char in value):
        raise ValueError(value)
    return value


def _positive_seconds(value: str) -> float:
    seconds = float(value)  # ValueError for "3h", "", "abc"
    if not 0 < seconds < float("inf"):
        raise ValueError(value)
    return seconds


def _probability(value: str) -> float:
    probability = float(value)
    if not 0 < probability < 1:
        raise ValueError(value)
    return probability


def _batch_size(value: str) -> int | None:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(value)
    return int(value)


def _precision(value: str) -> str:
    if value.lower() not in PRECISIONS:
        raise ValueError(value)
    return value.lower()


def _switch(value: str) -> bool:
    return _SWITCH[value]  # KeyError for anything but "", "0", "1"


def _executable(value: str) -> str:
    path = Path(value).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ValueError(value)
    return str(path)


_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    BACKEND_ENV: ("backend", _engine),
    MODEL_ENV: ("model", _text),
    ALIGNER_ENV: ("aligner_model", _text),
    "ASR_MAX_SECONDS": ("max_seconds", _positive_seconds),
    "ASR_BATCH_SIZE": ("batch_size", _batch_size),
    "ASR_DTYPE": ("dtype", _precision),
    "ASR_CPU_INT8": ("cpu_int8", _switch),
    "CLEANUP_DISABLED": ("cleanup_disabled", _switch),
    "FFMPEG_BINARY": ("ffmpeg", _executable),
    "ASR_LOW_CONFIDENCE": ("low_confidence", _probability),
    SERVER_ENV: ("server", Endpoint.parse),
    SERVER_KEY_ENV: ("server_key", _key),
    SERVER_KEY_FILE_ENV: ("server_key", _key_file),
    API_KEY_ENV: ("api_key", _key),
    API_KEY_FILE_ENV: ("api_key", _key_file),
}
# a refused key is not repeated in the message
_SECRET = frozenset({SERVER_KEY_ENV, SERVER_KEY_FILE_ENV, API_KEY_ENV, API_KEY_FILE_ENV})


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse every documented variable of `environ` (default: this process's); raise `SettingsError`.

    An unset or empty variable keeps its default. A server engine needs `ASR_SERVER`, and `ASR_SERVER` is
    refused with any other engine (audio would not go where the user thinks it goes).
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name, (field_name, parse) in _PARSERS.items():
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            values[field_name] = parse(raw)
        except (ValueError, KeyError, OSError):
            raise SettingsError(name, "…" if name in _SECRET else raw) from None
    for key, key_file in ((SERVER_KEY_ENV, SERVER_KEY_FILE_ENV), (API_KEY_ENV, API_KEY_FILE_ENV)):
        if env.get(key, "").strip() and env.get(key_file, "").strip():
            raise SettingsError(key_file, "…")
    settings = Settings(**values)  # type: ignore[arg-type]
    if (settings.backend == SERVER_ENGINE) != (settings.server is not None):
        raise SettingsError(SERVER_ENV, env.get(SERVER_ENV, "").strip())
    return settings

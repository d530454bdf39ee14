"""Qwen3-ASR on a team's vLLM server: the same pipeline, its chunks sent to the engine made for serving.

vLLM batches requests from every user on its own side (continuous batching), so this engine sends one
chunk per request and the pipeline keeps many in flight (`Capabilities.calls_in_flight`); it never waits
for a whole batch of ours. Each request is an OpenAI-style chat completion with the chunk as a WAV and
`logprobs` on: the server returns Qwen3-ASR's raw answer (`language English<asr_text>...`) token by token
with each token's bytes and log-probability, which `asr.engines.qwen3_output.read_tokens` reads exactly as it
reads the in-process engine's. So the language check, refusal, "transcribe anyway", context and the
low-confidence marks are the same. Hotwords go in the system turn and a forced language is the assistant
turn's prefill (`continue_final_message`), as transformers' processor writes them.

Only the standard library talks to the server (no proxy is ever used: audio goes to `ASR_SERVER` and
nowhere else, which the network guard also enforces). The API key travels in the `Authorization` header
only: never in a log, a message or the page. A user's cancel shuts the sockets of that job's requests, and
vLLM aborts a request whose client has gone. Transient answers (busy, a dropped connection) are retried
with backoff; anything else fails the file at once with one sentence naming what to check.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import math
import socket
import ssl
import time
import wave
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from asr.engines.endpoint import Endpoint
from asr.engines.protocol import Aborted, Cancel, Capabilities, ChunkOutput, LanguageProbe
from asr.engines.qwen3_output import ASR_TEXT_MARKER, AnswerToken, read_text, read_tokens
from asr.errors import UserFacingError
from asr.settings import Settings
from privacy import guard

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
#: Requests in flight per job when `ASR_BATCH_SIZE` does not say: enough to keep a GPU server's batch full
#: (its throughput at 8-32 concurrent requests is 5-10x that of one), few enough that one job of many
#: does not hog a shared server.
DEFAULT_IN_FLIGHT = 16
CONNECT_TIMEOUT_S = 10.0
#: A queued request on a busy server may wait; a server that says nothing for this long is taken for lost.
ANSWER_TIMEOUT_S = 300.0
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)
_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_FINISHED = frozenset({"<|im_end|>", "<|endoftext|>"})


class _Transient(Exception):
    """Worth trying again: the server was busy or the connection dropped; `code` (with `params`) says what if
    it persists. `once`: tried again once only (a server error may be a passing fault or this request's)."""

    def __init__(self, code: str, *, once: bool = False, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.once = once
        self.params = params


def wav_bytes(audio: np.ndarray) -> bytes:
    """16 kHz mono float32 samples as a 16-bit WAV file (the decoded WAV was 16-bit: nothing is lost)."""
    samples = np.clip(np.round(np.asarray(audio, dtype=np.float32) * 32768.0), -32768, 32767)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def answer_tokens(logprobs: Sequence[dict[str, Any]]) -> list[AnswerToken]:
    """vLLM's `logprobs.content` as the shared reader's tokens: each token's bytes and probability,
    `<asr_text>` as the marker, end-of-text left out, and any other `<|special|>` token spelling nothing."""
    tokens = []
    for entry in logprobs:
        name = str(entry.get("token", ""))
        if name in _FINISHED:
            continue
        prob = math.exp(float(entry["logprob"])) if entry.get("logprob") is not None else None
        special = name.startswith("<|") and name.endswith("|>")
        spelled = b"" if special else bytes(entry.get("bytes") or name.encode())
        tokens.append(AnswerToken(spelled, prob, marker=name == ASR_TEXT_MARKER))
    return tokens


def chat_request(
    model: str, audio: np.ndarray, language: str | None, context: str | None, budget: int, prefix: str = ""
) -> dict:
    """One chunk as the chat completion Qwen3-ASR's template expects: context as the system turn, the
    audio as the user turn, a forced language (and the text the answer goes on from) as the assistant turn's
    prefill."""
    encoded = base64.b64encode(wav_bytes(audio)).decode("ascii")
    messages: list[dict[str, Any]] = []
    if context:
        messages.append({"role": "system", "content": context})
    audio_part = {"type": "input_audio", "input_audio": {"data": encoded, "format": "wav"}}
    messages.append({"role": "user", "content": [audio_part]})
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": budget,
        "temperature": 0.0,
        "logprobs": True,
    }
    if language:
        messages.append({"role": "assistant", "content": f"language {language}{ASR_TEXT_MARKER}{prefix}"})
        body |= {"continue_final_message": True, "add_generation_prompt": False}
    return body


class ServerClient:
    """JSON over HTTP(S) to one server, one connection per request (requests run on many threads)."""

    def __init__(self, endpoint: Endpoint, key: str | None) -> None:
        self.endpoint = endpoint
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self.endpoint.host, self.endpoint.port
        if self.endpoint.scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=CONNECT_TIMEOUT_S, context=context)
        return http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT_S)

    def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        cancel: Cancel | None = None,
        retries: Sequence[float] = RETRY_DELAYS_S,
    ) -> Any:
        """The decoded JSON answer, retrying transient failures after each of `retries` seconds; raises
        `UserFacingError` or, once `cancel` is set, `Aborted`."""
        for attempt, delay in enumerate((*retries, None)):
            try:
                return self._once(method, path, body, cancel)
            except _Transient as exc:
                if delay is None or (exc.once and attempt > 0) or (cancel is not None and cancel.is_set()):
                    raise UserFacingError(exc.code, server=self.endpoint.address, **exc.params) from None
                log.warning("Server request failed (%s); retry %d in %.1f s", exc.code, attempt + 1, delay)
                if cancel is not None and cancel.wait(delay):
                    raise Aborted from None
                if cancel is None:
                    time.sleep(delay)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, body: dict | None, cancel: Cancel | None) -> Any:
        if cancel is not None and cancel.is_set():
            raise Aborted
        connection = self._connection()
        try:
            with Cancel.hook(cancel, lambda: _shut(connection)):
                payload = None if body is None else json.dumps(body).encode()
                try:
                    connection.connect()
                    if connection.sock is not None:
                        connection.sock.settimeout(ANSWER_TIMEOUT_S)
                    connection.request(method, path, body=payload, headers=self._headers)
                    response = connection.getresponse()
                    data = response.read()
                except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
                    raise self._aborted_or(cancel, _Transient("server_lost")) from exc
                except (OSError, http.client.HTTPException) as exc:  # timeouts, refusals, TLS, the guard
                    if cancel is not None and cancel.is_set():
                        raise Aborted from exc
                    raise _unreachable(exc, self.endpoint) from exc
        finally:
            connection.close()
        return _decoded(response.status, data, self.endpoint)

    @staticmethod
    def _aborted_or(cancel: Cancel | None, error: Exception) -> Exception:
        return Aborted() if cancel is not None and cancel.is_set() else error


def _shut(connection: http.client.HTTPConnection) -> None:
    """End a request from another thread: the waiting read returns at once, and the server sees its client
    gone (vLLM then aborts the request instead of finishing it for nobody)."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _unreachable(exc: Exception, endpoint: Endpoint) -> Exception:
    """A connection refused mid-job may be a restart (try again); any other network failure is the address."""
    if isinstance(exc, ConnectionRefusedError):
        return _Transient("server_unreachable")
    return UserFacingError("server_unreachable", server=endpoint.address)


def _decoded(status: int, data: bytes, endpoint: Endpoint) -> Any:
    """The answer's JSON for a 2xx status; otherwise what the user should check, as an error."""
    if status in _TRANSIENT_STATUS:
        raise _Transient("server_busy")
    if status in (401, 403):
        raise UserFacingError("server_key_refused", server=endpoint.address)
    if status == 404:
        raise UserFacingError("server_wrong_model", server=endpoint.address, served="?")
    if status == 500:  # vLLM's answer to an error inside its engine, which may pass: tried once more
        log.error("Server answered status %d", status)
        raise _Transient("server_failed", once=True, status=status)
    if not 200 <= status < 300:
        log.error("Server answered status %d", status)
        raise UserFacingError("server_failed", server=endpoint.address, status=status)
    try:
        return json.loads(data)
    except ValueError:
        raise UserFacingError("server_failed", server=endpoint.address, status=status) from None


def served_asr_model(answer: Any, endpoint: Endpoint) -> str:
    """The model to ask for: the one the server serves, or among several the one named like Qwen3-ASR."""
    listed = answer.get("data") if isinstance(answer, dict) else None
    names = [str(item["id"]) for item in listed or [] if isinstance(item, dict) and item.get("id")]
    asr = [name for name in names if "asr" in name.lower()]
    if len(names) == 1:
        return names[0]
    if len(asr) == 1:
        return asr[0]
    raise UserFacingError("server_wrong_model", server=endpoint.address, served=", ".join(names) or "-")


class VllmEngine:
    """A vLLM server serving Qwen3-ASR, used through its OpenAI-compatible chat completions."""

    def __init__(self, client: ServerClient, model: str, in_flight: int) -> None:
        self.client = client
        self.model = model
        self.capabilities = Capabilities(
            token_probabilities=True,
            context_prompt=True,
            forced_language=True,
            calls_in_flight=in_flight,
            answer_prefix=True,
        )

    @classmethod
    def connect(cls, settings: Settings) -> VllmEngine:
        """Ask the server which model it serves; no local model, no Hugging Face cache. Raises
        `UserFacingError` naming what to check when the server is down, refuses the key or serves no ASR."""
        assert settings.server is not None  # the settings refuse this engine without a server
        guard.allow(settings.server.host, settings.server.port)  # that host and port, and nothing else
        client = ServerClient(settings.server, settings.server_key)
        answer = client.call("GET", "/v1/models", retries=())  # before any job, a refusal is no restart
        model = served_asr_model(answer, settings.server)
        log.info("Server engine ready")
        return cls(client, model, settings.batch_size or DEFAULT_IN_FLIGHT)

    @property
    def device(self) -> str:
        return f"vLLM {self.client.endpoint.address}"

    def preferred_batch_size(self) -> int:
        return 1  # one chunk per request: the server batches across requests and users

    def transcribe(
        self,
        audios: Sequence[np.ndarray],
        *,
        language: str | None = None,
        context: str | None = None,
        max_new_tokens: int = 256,
        resume: LanguageProbe | None = None,
        cancel: Cancel | None = None,
        prefix: str | None = None,
        drafts: Sequence[Sequence[int]] | None = None,
        give_way: Callable[[], bool] | None = None,
    ) -> list[ChunkOutput]:
        """One request per chunk, in turn (the pipeline runs calls side by side). Raises `Aborted` once
        `cancel` is set, `UserFacingError` when the server fails. No `drafts` nor `give_way`
        (`Capabilities`): the server decodes each request whole, the live mode goes on from a `prefix`."""
        return [self._one(audio, language, context, max_new_tokens, cancel, prefix) for audio in audios]

    def _one(
        self,
        audio: np.ndarray,
        language: str | None,
        context: str | None,
        budget: int,
        cancel: Cancel | None,
        prefix: str | None,
    ) -> ChunkOutput:
        body = chat_request(self.model, audio, language, context, budget, prefix or "")
        answer = self.client.call("POST", "/v1/chat/completions", body, cancel)
        try:
            choice = answer["choices"][0]
            content = (choice.get("logprobs") or {}).get("content")
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise UserFacingError("server_failed", server=self.client.endpoint.address, status=200) from None
        if content:
            return read_tokens(answer_tokens(content), language)
        tokens = int((answer.get("usage") or {}).get("completion_tokens") or 0)
        return read_text(text, language, tokens)  # a server that withholds log-probabilities: no marks

"""The server engine's transport on its own: what it sends, how it reads vLLM's answer, and how it fails.

The engine against the real vLLM is tested in tests/test_vllm_server.py. Here small loopback HTTP servers
stand in for the failures a real one cannot be made to show on demand (busy, a request that never ends),
and the pipeline's calls in flight are checked with an engine that records when it was called.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import wave
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from asr.engines.endpoint import Endpoint
from asr.engines.protocol import Aborted, Cancel, Capabilities, ChunkOutput, LanguageProbe
from asr.engines.vllm_engine import (
    ServerClient,
    VllmEngine,
    answer_tokens,
    chat_request,
    served_asr_model,
    wav_bytes,
)
from asr.errors import UserFacingError
from asr.settings import load_settings
from asr.speech.chunking import Chunk
from asr.speech.sources import AudioChunk
from asr.transcribe import TranscribeOptions, stream_transcription

ENDPOINT = Endpoint("http", "127.0.0.1", 1)


def test_audio_goes_as_the_same_16_bit_samples() -> None:
    samples = (np.arange(-800, 800) * 40).astype(np.int16)
    with wave.open(io.BytesIO(wav_bytes(samples.astype(np.float32) / 32768.0))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert np.array_equal(np.frombuffer(wav.readframes(wav.getnframes()), "<i2"), samples)


def test_context_is_the_system_turn_and_a_forced_language_is_the_answers_prefill() -> None:
    audio = np.zeros(1600, np.float32)
    body = chat_request("asr", audio, "Chinese", "张伟, Qwen", 40)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert body["messages"][0]["content"] == "张伟, Qwen"
    assert body["messages"][2]["content"] == "language Chinese<asr_text>"
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["logprobs"] is True and body["max_tokens"] == 40 and body["temperature"] == 0.0
    plain = chat_request("asr", audio, None, None, 40)
    assert [m["role"] for m in plain["messages"]] == ["user"] and "continue_final_message" not in plain


def test_vllms_tokens_read_like_the_in_process_engines() -> None:
    """A Chinese character split over two tokens, the marker, the end token: as vLLM returns them."""
    ni = "你".encode()
    content = [
        {"token": "language", "logprob": 0.0, "bytes": list(b"language")},
        {"token": " Chinese", "logprob": -0.1, "bytes": list(b" Chinese")},
        {"token": "<asr_text>", "logprob": 0.0, "bytes": list(b"<asr_text>")},
        {"token": "bytes:\\xe4\\xbd", "logprob": -0.2, "bytes": list(ni[:2])},
        {"token": "bytes:\\xa0", "logprob": -1.5, "bytes": list(ni[2:])},
        {"token": "好", "logprob": 0.0, "bytes": list("好".encode())},
        {"token": "<|im_end|>", "logprob": 0.0, "bytes": list(b"<|im_end|>")},
    ]
    tokens = answer_tokens(content)
    assert len(tokens) == 6 and tokens[2].marker
    from asr.engines.qwen3_output import read_tokens

    output = read_tokens(tokens, None)
    assert (output.language, output.text, output.tokens) == ("Chinese", "你好", 6)
    assert output.language_prob == pytest.approx(np.exp(-0.1))
    assert [(p.text, round(p.probability, 3)) for p in output.pieces] == [("你", 0.223), ("好", 1.0)]


def test_the_model_is_the_one_served_or_the_asr_one_among_several() -> None:
    assert served_asr_model({"data": [{"id": "team-asr"}]}, ENDPOINT) == "team-asr"
    two = {"data": [{"id": "Qwen3-8B"}, {"id": "Qwen3-ASR-0.6B"}]}
    assert served_asr_model(two, ENDPOINT) == "Qwen3-ASR-0.6B"
    with pytest.raises(UserFacingError) as none:
        served_asr_model({"data": [{"id": "Qwen3-8B"}, {"id": "Llama"}]}, ENDPOINT)
    assert none.value.code == "server_wrong_model" and none.value.params["served"] == "Qwen3-8B, Llama"


# --- failures, against loopback stand-ins ---------------------------------------------------------------


class _Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next (status, body) of the server's script; `None` hangs."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer()

    def _answer(self) -> None:
        server = self.server
        server.seen.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        step = server.script.pop(0) if server.script else (200, {})  # type: ignore[attr-defined]
        if step is None:
            server.hung.set()  # type: ignore[attr-defined]
            server.released.wait(30)  # type: ignore[attr-defined]
            return
        status, body = step
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.script, server.seen = [], []  # type: ignore[attr-defined]
    server.hung, server.released = threading.Event(), threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.released.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def _client(server: ThreadingHTTPServer, key: str | None = "sk-1") -> ServerClient:
    return ServerClient(Endpoint("http", "127.0.0.1", server.server_address[1]), key)


def test_busy_is_retried_and_the_key_travels_only_in_its_header(stand_in: ThreadingHTTPServer) -> None:
    stand_in.script[:] = [(503, {}), (429, {}), (200, {"ok": 1})]  # type: ignore[attr-defined]
    assert _client(stand_in).call("GET", "/v1/models", retries=(0.01, 0.01, 0.01)) == {"ok": 1}
    assert stand_in.seen == ["Bearer sk-1"] * 3  # type: ignore[attr-defined]


def test_busy_for_good_ends_in_one_sentence(stand_in: ThreadingHTTPServer) -> None:
    stand_in.script[:] = [(503, {})] * 3  # type: ignore[attr-defined]
    with pytest.raises(UserFacingError) as busy:
        _client(stand_in).call("GET", "/v1/models", retries=(0.01, 0.01))
    assert busy.value.code == "server_busy"


def test_a_server_error_is_tried_once_more_and_then_said_with_its_status(
    stand_in: ThreadingHTTPServer,
) -> None:
    """A 500 (an error inside vLLM's engine) may pass: the request is sent once more, not four times."""
    stand_in.script[:] = [(500, {"error": "x"}), (200, {"ok": 1})]  # type: ignore[attr-defined]
    assert _client(stand_in).call("GET", "/v1/models", retries=(0.01, 0.01, 0.01)) == {"ok": 1}
    stand_in.script[:] = [(500, {"error": "x"})] * 3  # type: ignore[attr-defined]
    with pytest.raises(UserFacingError) as failed:
        _client(stand_in).call("GET", "/v1/models", retries=(0.01, 0.01, 0.01))
    assert (failed.value.code, failed.value.params["status"]) == ("server_failed", 500)
    assert len(stand_in.seen) == 4  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "code"), [(401, "server_key_refused"), (404, "server_wrong_model"), (400, "server_failed")]
)
def test_a_refusal_is_not_retried(stand_in: ThreadingHTTPServer, status: int, code: str) -> None:
    stand_in.script[:] = [(status, {"error": "x"}), (200, {})]  # type: ignore[attr-defined]
    with pytest.raises(UserFacingError) as refused:
        _client(stand_in).call("GET", "/v1/models", retries=(0.01,))
    assert refused.value.code == code and len(stand_in.seen) == 1  # type: ignore[attr-defined]


def test_cancel_ends_a_request_the_server_is_still_working_on(stand_in: ThreadingHTTPServer) -> None:
    stand_in.script[:] = [None]  # type: ignore[attr-defined]
    cancel = Cancel()
    ended: list[BaseException] = []

    def request() -> None:
        try:
            _client(stand_in).call("POST", "/v1/chat/completions", {"x": 1}, cancel)
        except BaseException as exc:  # noqa: BLE001 (what ended it is the assertion)
            ended.append(exc)

    caller = threading.Thread(target=request)
    caller.start()
    assert stand_in.hung.wait(10)  # type: ignore[attr-defined]
    started = time.monotonic()
    cancel.set()
    caller.join(10)
    assert not caller.is_alive() and time.monotonic() - started < 2
    assert isinstance(ended[0], Aborted)


def test_connect_needs_no_local_model_and_allows_exactly_that_server(
    stand_in: ThreadingHTTPServer, tmp_path: Path
) -> None:
    stand_in.script[:] = [(200, {"data": [{"id": "Qwen3-ASR-0.6B"}]})]  # type: ignore[attr-defined]
    port = stand_in.server_address[1]
    env = {
        "ASR_BACKEND": "vllm",
        "ASR_SERVER": f"http://127.0.0.1:{port}",
        "ASR_MODEL": str(tmp_path / "none"),
    }
    engine = VllmEngine.connect(load_settings(env))
    assert engine.model == "Qwen3-ASR-0.6B" and engine.device == f"vLLM 127.0.0.1:{port}"
    assert engine.capabilities.calls_in_flight == 16 and engine.capabilities.token_probabilities
    assert stand_in.seen == [None]  # type: ignore[attr-defined]  # no key configured: no header


def test_nobody_listening_is_unreachable_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"ASR_BACKEND": "vllm", "ASR_SERVER": f"http://127.0.0.1:{port}"}
    started = time.monotonic()
    with pytest.raises(UserFacingError) as down:
        VllmEngine.connect(load_settings(env))
    assert down.value.code == "server_unreachable" and time.monotonic() - started < 5


# --- calls in flight ------------------------------------------------------------------------------------


class _SlowServerEngine:
    """Answers each one-chunk call after `delay`, recording how many were running at once."""

    def __init__(self, in_flight: int, delay: float = 0.05) -> None:
        self.capabilities = Capabilities(calls_in_flight=in_flight)
        self.device = "test"
        self.delay = delay
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.cancels: list[Cancel | None] = []

    def preferred_batch_size(self) -> int:
        return 1

    def transcribe(
        self,
        audios: Sequence[np.ndarray],
        *,
        language: str | None = None,
        context: str | None = None,
        max_new_tokens: int = 256,
        resume: LanguageProbe | None = None,
        cancel: Cancel | None = None,
    ) -> list[ChunkOutput]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.cancels.append(cancel)
        time.sleep(self.delay * (1 + len(self.cancels) % 3))  # finish out of order
        with self.lock:
            self.running -= 1
        tag = "language English<asr_text>"
        return [ChunkOutput("English", f"chunk {int(a[0])}", tag, 0.99, 3) for a in audios]


class _Numbered:
    """`count` chunks, each one's samples starting with its index."""

    def __init__(self, count: int) -> None:
        self.chunks = [Chunk(i, float(i), i + 0.9) for i in range(count)]
        self.total_chunks, self.total_s = count, 0.9 * count

    def batches(self, size: int) -> Iterator[list[AudioChunk]]:
        for at in range(0, len(self.chunks), size):
            yield [AudioChunk(c, np.full(1600, c.index, np.float32)) for c in self.chunks[at : at + size]]


def test_a_server_engine_gets_many_calls_at_once_and_every_chunk_once() -> None:
    engine = _SlowServerEngine(in_flight=4)
    steps = list(stream_transcription(engine, _Numbered(12), TranscribeOptions()))
    segments = sorted((s for step in steps for s in step.added), key=lambda s: s.start)
    assert [s.text for s in segments] == [f"chunk {i}" for i in range(12)]
    assert [step.done_chunks for step in steps] == list(range(1, 13))
    assert engine.most == 4, "the pipeline kept the server's window full"
    assert len(engine.cancels) == 13  # the language probe, then each chunk


def test_closing_the_stream_cancels_the_calls_still_running() -> None:
    engine = _SlowServerEngine(in_flight=4, delay=0.2)
    stream = stream_transcription(engine, _Numbered(12), TranscribeOptions())
    next(stream)
    stream.close()
    cancel = engine.cancels[-1]
    assert cancel is not None and cancel.is_set()
    assert len(engine.cancels) < 13, "no new call was started after the close"

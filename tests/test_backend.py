"""The pipeline runs on any `Backend`: a small fake one beside the real engine, through job, page and CLI.

The fake is pure Python (no torch, no weights): it proves that a second backend (a vLLM server, an ONNX
build) plugs in with no change to `transcribe.py`, `app.py` or `asr/cli.py`, and that the pipeline hands a
backend its own probe state back to resume. The same cases run on the real tiny engine, so the fake cannot
drift from what the real one does. `PlainEngine` is the real model with none of the optional capabilities
(no probe, no token probabilities, no context, no forced language), chosen by `ASR_BACKEND` through the
registry like any engine: the least a second engine may offer still goes through job, page and CLI.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import asr.background
import asr.cli as cli_module
from asr.engines.protocol import Backend, Cancel, Capabilities, ChunkOutput, LanguageProbe
from asr.engines.qwen3_output import MAX_TAG_TOKENS, read_text
from asr.engines.registry import ENGINES
from asr.engines.transformers_engine import AsrEngine
from asr.i18n import t
from asr.job import Failed, Transcribed, run_job
from asr.settings import Settings
from asr.transcribe import TranscribeOptions
from tests.test_cli import stub_process_hooks

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@dataclass
class FakeBackend:
    """Says "hello world" in `language` for every chunk; records what the pipeline asked of it."""

    language: str = "English"
    batch: int = 2
    probes: list[object] = field(default_factory=list)
    calls: list[tuple[int, object]] = field(default_factory=list)  # (chunks, resume state) per call
    capabilities: Capabilities = Capabilities(True, True, True, language_probe=True)

    @property
    def device(self) -> str:
        return "fake"

    def preferred_batch_size(self) -> int:
        return self.batch

    def probe_language(self, audio: np.ndarray, *, context: str | None = None) -> LanguageProbe:
        state = object()
        self.probes.append(state)
        return LanguageProbe(self.language, 0.97, 0.01, state=state)

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
        self.calls.append((len(audios), resume.state if resume else None))
        said = language or self.language
        return [ChunkOutput(said, "hello world", "hello world", 0.97, 3) for _ in audios]


def _typed(backend: FakeBackend) -> Backend:
    return backend  # mypy-style proof in a test: the fake satisfies the protocol structurally


@pytest.fixture(params=["fake", "real"])
def backend(request: pytest.FixtureRequest, english_checkpoint: Path) -> Backend:
    if request.param == "fake":
        return _typed(FakeBackend())
    return AsrEngine.load(str(english_checkpoint))


def test_the_same_job_on_either_backend(backend: Backend, speech_files: dict) -> None:
    outcome = run_job(speech_files[("en", "wav")], backend, Settings(), TranscribeOptions())
    assert isinstance(outcome, Transcribed)
    assert outcome.transcript.text == "hello world"
    assert outcome.transcript.verdict.code == "en"


def test_a_refusal_and_transcribe_anyway_on_either_backend(
    backend: Backend, japanese_checkpoint: Path, speech_files: dict
) -> None:
    refusing = FakeBackend(language="Japanese") if isinstance(backend, FakeBackend) else None
    refusing = refusing or AsrEngine.load(str(japanese_checkpoint))
    upload = speech_files[("en", "wav")]
    refused = run_job(upload, refusing, Settings(), TranscribeOptions())
    assert isinstance(refused, Failed) and refused.language_refused
    anyway = run_job(upload, refusing, Settings(), TranscribeOptions().anyway(None))
    assert isinstance(anyway, Transcribed) and anyway.transcript.verdict.code == "other:Japanese"


def test_the_pipeline_hands_the_backend_its_own_probe_and_its_batch_size(tmp_path: Path) -> None:
    from tests.test_pipeline import four_stretches

    fake = FakeBackend(batch=2)
    wav, _ = four_stretches(tmp_path)
    outcome = run_job(wav, fake, Settings(), TranscribeOptions())
    assert isinstance(outcome, Transcribed)
    chunks = len(outcome.transcript.segments)
    assert [size for size, _ in fake.calls] == [2] * (chunks // 2) + ([chunks % 2] if chunks % 2 else [])
    assert len(fake.calls) > 1
    assert fake.calls[0][1] is fake.probes[0], "the first batch resumes the probe it was given"
    assert all(state is None for _, state in fake.calls[1:])
    outcome = run_job(wav, fake, Settings(batch_size=1), TranscribeOptions())
    assert {size for size, _ in fake.calls[-chunks:]} == {1}, "ASR_BATCH_SIZE wins over the preference"


def test_the_page_runs_on_another_backend_unchanged(monkeypatch, speech_files) -> None:
    fake = FakeBackend()
    monkeypatch.setattr(asr.background, "load_backend", lambda settings: fake)
    monkeypatch.setenv("ASR_MODEL", "fake/backend")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    app.get("file_uploader")[0].set_value(("a.wav", speech_files[("en", "wav")].read_bytes(), "audio/wav"))
    app.run()
    [button] = [b for b in app.button if b.label == t("ui_transcribe", "en")]
    button.click().run()
    assert not app.exception
    assert [a.value for a in app.text_area if a.label == t("ui_transcript", "en")] == ["hello world"]
    assert fake.calls, "the page's job ran on the fake"


def test_the_cli_runs_on_another_backend_unchanged(monkeypatch, capsys, speech_files) -> None:
    fake = FakeBackend()
    monkeypatch.setattr(cli_module, "load_backend", lambda settings: fake)
    stub_process_hooks(monkeypatch)
    assert cli_module.main(["transcribe", str(speech_files[("en", "wav")])]) == 0
    assert capsys.readouterr().out == "hello world\n"
    assert fake.calls


def test_the_cli_loads_its_model_in_a_thread_that_has_ended_before_the_first_job(
    monkeypatch, capsys, speech_files
) -> None:
    """torch's OpenMP keeps a worker pool per thread that ran torch while that thread lives: a model loaded
    in the main thread, which then waits while a folder's jobs run on another, slowed every job down."""
    fake = FakeBackend()
    loaded_in: list[threading.Thread] = []

    def load(settings: Settings) -> FakeBackend:
        loaded_in.append(threading.current_thread())
        return fake

    monkeypatch.setattr(cli_module, "load_backend", load)
    stub_process_hooks(monkeypatch)
    assert cli_module.main(["transcribe", str(speech_files[("en", "wav")])]) == 0
    assert capsys.readouterr().out == "hello world\n"
    [loader] = loaded_in
    assert loader is not threading.main_thread() and not loader.is_alive()


class PlainEngine:
    """The real model behind an engine that offers nothing optional: text in its answer, nothing else."""

    capabilities = Capabilities()

    def __init__(self, inner: AsrEngine) -> None:
        self.inner = inner
        self.calls: list[tuple[int, int]] = []  # (chunks, max_new_tokens) per call
        self.asked: set[tuple[object, object, object]] = set()  # (language, context, resume) it was given

    @property
    def device(self) -> str:
        return self.inner.device

    def preferred_batch_size(self) -> int:
        return 8

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
        self.calls.append((len(audios), max_new_tokens))
        self.asked.add((language, context, resume))
        outputs = self.inner.transcribe(audios, max_new_tokens=max_new_tokens)
        return [read_text(output.raw, None, output.tokens) for output in outputs]


def _typed_plain(engine: PlainEngine) -> Backend:
    return engine  # the plain engine satisfies the protocol structurally


def test_an_engine_with_no_probe_and_no_probabilities_gets_the_same_transcript(
    english_engine: AsrEngine, tmp_path: Path
) -> None:
    from tests.test_pipeline import four_stretches

    wav, _ = four_stretches(tmp_path)
    full = run_job(wav, english_engine, Settings(), TranscribeOptions())
    plain = PlainEngine(english_engine)
    outcome = run_job(wav, _typed_plain(plain), Settings(), TranscribeOptions())
    assert isinstance(full, Transcribed) and isinstance(outcome, Transcribed)
    assert outcome.transcript.text == full.transcript.text
    assert outcome.transcript.verdict.code == full.transcript.verdict.code == "en"
    assert [s.start for s in outcome.transcript.segments] == [s.start for s in full.transcript.segments]
    assert any(s.pieces for s in full.transcript.segments)
    assert not any(s.pieces for s in outcome.transcript.segments), "no probabilities: no word is marked"
    assert plain.calls[0] == (1, MAX_TAG_TOKENS), "the language check decodes the first chunk to its tag"
    assert plain.asked == {(None, None, None)}


def test_an_engine_with_no_probe_refuses_and_transcribes_anyway(
    japanese_checkpoint: Path, speech_files: dict
) -> None:
    plain = PlainEngine(AsrEngine.load(str(japanese_checkpoint)))
    upload = speech_files[("en", "wav")]
    refused = run_job(upload, plain, Settings(), TranscribeOptions())
    assert isinstance(refused, Failed) and refused.language_refused
    assert plain.calls == [(1, MAX_TAG_TOKENS)], "a refusal costs the tag alone"
    anyway = run_job(upload, plain, Settings(), TranscribeOptions().anyway(None))
    assert isinstance(anyway, Transcribed) and anyway.transcript.verdict.code == "other:Japanese"


def test_what_an_engine_cannot_do_is_said_not_silently_dropped(
    english_engine: AsrEngine, speech_files: dict
) -> None:
    plain = PlainEngine(english_engine)
    options = TranscribeOptions(context="Qwen, vLLM", language="English")
    outcome = run_job(speech_files[("en", "wav")], plain, Settings(), options)
    assert isinstance(outcome, Transcribed)
    codes = [notice.code for notice in outcome.notices]
    assert codes[:2] == ["context_unsupported", "forced_language_unsupported"]
    assert plain.asked == {(None, None, None)}


@pytest.fixture
def plain_engine_setting(monkeypatch: pytest.MonkeyPatch, english_checkpoint: Path) -> list[PlainEngine]:
    """`ASR_BACKEND=plain` picks the plain engine through the registry, as a user's setting would."""
    loaded: list[PlainEngine] = []

    def load(settings: Settings) -> Backend:
        loaded.append(PlainEngine(AsrEngine.load(settings.model)))
        return loaded[-1]

    monkeypatch.setitem(ENGINES, "plain", load)
    monkeypatch.setenv("ASR_BACKEND", "plain")
    monkeypatch.setenv("ASR_MODEL", str(english_checkpoint))
    return loaded


def test_the_page_runs_on_an_engine_with_no_probe_and_no_probabilities(
    plain_engine_setting: list[PlainEngine], english_engine: AsrEngine, speech_files: dict
) -> None:
    upload = speech_files[("en", "wav")]
    full = run_job(upload, english_engine, Settings(), TranscribeOptions())
    assert isinstance(full, Transcribed)
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.get("file_uploader")[0].set_value(("a.wav", upload.read_bytes(), "audio/wav"))
    app.run()
    [button] = [b for b in app.button if b.label == t("ui_transcribe", "en")]
    button.click().run()
    assert not app.exception
    assert [a.value for a in app.text_area if a.label == t("ui_transcript", "en")] == [full.transcript.text]
    [plain] = plain_engine_setting
    assert plain.calls[0] == (1, MAX_TAG_TOKENS)


def test_the_cli_runs_on_an_engine_with_no_probe_and_no_probabilities(
    plain_engine_setting: list[PlainEngine],
    monkeypatch,
    capsys,
    english_engine: AsrEngine,
    speech_files: dict,
) -> None:
    upload = speech_files[("en", "wav")]
    full = run_job(upload, english_engine, Settings(), TranscribeOptions())
    assert isinstance(full, Transcribed)
    stub_process_hooks(monkeypatch)
    assert cli_module.main(["transcribe", str(upload)]) == 0
    assert capsys.readouterr().out == full.transcript.text + "\n"
    [plain] = plain_engine_setting
    assert plain.calls[0] == (1, MAX_TAG_TOKENS)

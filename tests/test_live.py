"""Live transcription without a browser: a real (tiny) engine fed a real voice piece by piece, as a page's
microphone feeds it; what the user would see while it runs, and what is left when it ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import asr.live as live_module
from asr.engines.loading import plan_device
from asr.engines.protocol import Backend, Cancel, ChunkOutput, LanguageProbe
from asr.engines.transformers_engine import AsrEngine
from asr.job import Cancelled, Failed, JobModels, Transcribed
from asr.live import LiveJob, LiveView, live_job
from asr.settings import Settings
from asr.speech.audio import SAMPLE_RATE, decode_to_wav, load_pcm
from asr.speech.detect import FRAME_S
from asr.speech.utterances import MAX_UTTERANCE_S, UtteranceCutter
from asr.transcribe import TranscribeOptions
from cleanup import private_root

PAUSE = np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.float32)
PIECE_S = 0.1


@pytest.fixture(scope="module")
def voice(speech_wavs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    wav = tmp_path_factory.mktemp("live") / "voice.wav"
    decode_to_wav(speech_wavs["en"], wav)
    return load_pcm(wav)


def job_folders() -> list[Path]:
    return sorted(private_root().glob("proc_*/qwen_asr_*"))


def feed(job: LiveJob, pcm: np.ndarray, speed: float = 4.0, views: list[LiveView] | None = None) -> bool:
    """`pcm` in `PIECE_S` pieces, `speed` times faster than real time, the page's view read between them;
    False when the recording stopped taking audio before the end."""
    step = int(PIECE_S * SAMPLE_RATE)
    for at in range(0, len(pcm), step):
        piece = (np.clip(pcm[at : at + step], -1, 1) * 32767).astype("<i2").tobytes()
        if not job.feed(piece):
            return False
        if views is not None:
            views.append(job.view())
        time.sleep(PIECE_S / speed)
    return True


def start(backend: Backend, options: TranscribeOptions | None = None, **kwargs: object) -> LiveJob:
    return LiveJob(JobModels(backend), Settings(), options or TranscribeOptions(), **kwargs)  # type: ignore[arg-type]


def test_text_appears_while_people_speak_and_stop_gives_a_transcript_timed_by_their_speech(
    english_engine: AsrEngine, voice: np.ndarray
) -> None:
    lead = np.zeros(int(2.0 * SAMPLE_RATE), dtype=np.float32)
    stream = np.concatenate([lead, voice, PAUSE, voice, PAUSE])
    job = start(english_engine)
    assert live_job(job.token) is job
    views: list[LiveView] = []
    assert feed(job, stream, speed=2.0, views=views)
    time.sleep(1.0)
    views.append(job.view())
    assert len(job_folders()) == 1, "the recording lives in one private job folder while it runs"
    # text while its utterance is still spoken (a cold engine's first refresh may give way to the first
    # commit: then the second utterance shows it)
    assert any(v.provisional == "hello world" and len(v.committed) < 2 for v in views), "provisional text"
    assert english_engine._memory._kept is not None, "the engine kept the last decode's prefill for the next"
    assert [s.text for s in views[-1].committed] == ["hello world"] * 2, "committed before Stop"
    job.stop()
    outcome = job.wait(30)
    assert isinstance(outcome, Transcribed), outcome
    first, second = outcome.transcript.segments
    voice_s = len(voice) / SAMPLE_RATE
    assert abs(first.start - 2.0) < 0.35 and abs(first.end - (2.0 + voice_s)) < 0.5
    assert abs(second.start - (2.0 + voice_s + 1.5)) < 0.35
    assert outcome.transcript.duration_s == pytest.approx(len(stream) / SAMPLE_RATE, abs=0.01)
    assert outcome.transcript.verdict.language_name == "English"
    assert job_folders() == [] and live_job(job.token) is None
    assert english_engine._memory._kept is None, "nothing of the recording stays in the engine"
    assert not job.feed(b"\0\0"), "a stopped recording takes no more audio: the page stops sending"


def test_stop_while_someone_is_still_speaking_commits_what_was_said(
    english_engine: AsrEngine, voice: np.ndarray
) -> None:
    job = start(english_engine)
    assert feed(job, voice[: len(voice) // 2], speed=8.0)
    job.stop()
    outcome = job.wait(30)
    assert isinstance(outcome, Transcribed), outcome
    assert [s.text for s in outcome.transcript.segments] == ["hello world"]
    assert job_folders() == []


def test_a_refused_language_ends_the_recording_with_the_files_message(
    japanese_checkpoint: Path, voice: np.ndarray
) -> None:
    job = start(AsrEngine.load(str(japanese_checkpoint)))
    stream = np.concatenate([voice, PAUSE, voice, PAUSE])
    assert not feed(job, stream, speed=2.0), "the recording ended at its first utterance"
    outcome = job.wait(30)
    assert isinstance(outcome, Failed) and outcome.language_refused, outcome
    assert job_folders() == [] and not job.feed(b"\0\0")


def test_a_page_that_stops_sending_is_a_cancelled_recording_and_its_folder_goes(
    english_engine: AsrEngine, voice: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "IDLE_S", 0.5)
    job = start(english_engine)
    assert feed(job, voice[:SAMPLE_RATE], speed=8.0)
    assert isinstance(job.wait(30), Cancelled)
    assert job_folders() == []


class SlowEngine:
    """The real engine, made to take `seconds` longer per call, and a tenth of that more for each further
    row: a machine that cannot keep up. A CPU's decode step reads every weight once whatever the batch, so a
    row costs little more than the call (`python -m bench live`: a 39-token call of 10 s of audio took 7.6 s
    alone and 8.3 s with a second row). `drafts=False` offers what a server engine does: no drafts, so live
    re-decodes go on from a text prefix."""

    def __init__(self, engine: AsrEngine, seconds: float, drafts: bool = True) -> None:
        self.engine = engine
        self.seconds = seconds
        self.capabilities = replace(engine.capabilities, drafts=drafts)
        self.calls: list[int] = []
        self.prefixes: list[str | None] = []
        self.drafts: list[list[tuple[int, ...]]] = []
        self.outputs: list[list[ChunkOutput]] = []

    @property
    def device(self) -> str:
        return self.engine.device

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
        prefix: str | None = None,
        drafts: Sequence[Sequence[int]] | None = None,
        give_way: Callable[[], bool] | None = None,
    ) -> list[ChunkOutput]:
        assert self.capabilities.drafts or (drafts is None and give_way is None)
        self.calls.append(len(audios))
        self.prefixes.append(prefix)
        self.drafts.append([tuple(d) for d in drafts or []])
        time.sleep(self.seconds * (1 + 0.1 * (len(audios) - 1)))
        said = self.engine.transcribe(
            audios,
            language=language,
            context=context,
            max_new_tokens=max_new_tokens,
            cancel=cancel,
            prefix=prefix,
            drafts=drafts,
            give_way=give_way,
        )
        self.outputs.append(said)
        return said


def test_a_machine_that_cannot_keep_up_says_so_and_commits_what_waits_together(
    english_engine: AsrEngine, voice: np.ndarray
) -> None:
    short = voice[: int(1.2 * SAMPLE_RATE)]
    gap = np.zeros(int(0.9 * SAMPLE_RATE), dtype=np.float32)
    stream = np.concatenate([short, gap] * 12)  # 12 utterances in 25 s
    slow = SlowEngine(english_engine, seconds=3.0)  # one call per utterance takes longer than it lasts
    job = start(slow)
    views: list[LiveView] = []
    assert feed(job, stream, speed=1.0, views=views)
    job.stop()
    outcome = job.wait(120)
    assert isinstance(outcome, Transcribed), outcome
    assert any(v.behind for v in views), "the page was told the machine is behind"
    assert max(slow.calls) > 1, "the utterances that waited were committed together, in one call"
    assert len(outcome.transcript.segments) == 12, "each utterance is still its own segment"
    spoken = sum(s.end - s.start for s in outcome.transcript.segments)
    assert spoken >= 12 * 1.0, "no speech was dropped to catch up"
    lags = [lag for _, lag in job.timeline.lags]
    assert max(lags[len(lags) // 2 :]) <= max(lags[: len(lags) // 2]) + 1.0, "the lag stopped growing"


def test_utterances_end_at_a_pause_and_never_outgrow_the_window() -> None:
    cutter = UtteranceCutter()
    for p in [0.0] * 10 + [0.9] * 50 + [0.0] * 5 + [0.9] * 20 + [0.0] * 30:  # a breath, then a real pause
        cutter.push(p)
    [utterance] = cutter.take_closed()
    assert utterance.start_s == pytest.approx(10 * FRAME_S - 0.1)
    assert utterance.end_s == pytest.approx(85 * FRAME_S + 0.1)
    for _ in range(int(40 / FRAME_S)):  # 40 s without a pause
        cutter.push(0.9)
    long = cutter.take_closed()
    assert len(long) == int(40 // MAX_UTTERANCE_S) - 1 and all(
        u.end_s - u.start_s <= MAX_UTTERANCE_S + 0.2 for u in long
    )


LINE = "please send the invoice to finance at company dot com"


@pytest.fixture(scope="module")
def line_engine(tmp_path_factory: pytest.TempPathFactory) -> AsrEngine:
    """Says `LINE` (ten tokens) whatever it hears: long enough to go on from a re-decode's kept text."""
    from bench.checkpoints import build_checkpoint

    path = build_checkpoint(tmp_path_factory.mktemp("line"), say=f"language English<asr_text>{LINE}")
    return AsrEngine.load(str(path))


def test_the_engine_goes_on_from_a_given_start_of_the_answer(
    line_engine: AsrEngine, voice: np.ndarray
) -> None:
    [whole] = line_engine.transcribe([voice])
    [rest] = line_engine.transcribe([voice], language="English", prefix="please send the")
    assert whole.text == LINE and rest.text == "invoice to finance at company dot com"
    assert rest.raw.startswith(" ") and rest.tokens == 7


@pytest.mark.parametrize("drafts", [True, False])
def test_a_redecode_of_the_same_utterance_goes_on_from_its_last_decode_and_commits_it_whole(
    line_engine: AsrEngine, voice: np.ndarray, drafts: bool
) -> None:
    """With drafts, each decode is handed the last one's tokens to verify; without (a server engine), it
    goes on from the last text less its tail."""
    engine = SlowEngine(line_engine, seconds=0.0, drafts=drafts)
    job = start(engine)
    assert feed(job, np.concatenate([voice, PAUSE]), speed=1.0)
    job.stop()
    outcome = job.wait(30)
    assert isinstance(outcome, Transcribed), outcome
    [segment] = outcome.transcript.segments
    assert segment.text == LINE and "".join(p.text for p in segment.pieces) == LINE
    assert segment.language == "English" and outcome.transcript.verdict.language_name == "English"
    assert len(engine.calls) > 1, "the utterance was decoded while it was spoken, then committed"
    if drafts:
        assert engine.drafts[0] == [()], "the first decode of an utterance has no draft"
        for call in range(1, len(engine.calls)):
            before = engine.outputs[call - 1][0]
            assert engine.drafts[call] == [before.token_ids], "each decode verifies the one before it"
        assert set(engine.prefixes) == {None}
    else:
        assert "please send the invoice to" in engine.prefixes, "later decodes went on from the kept text"
        assert engine.prefixes[0] is None, "the first decode of an utterance starts from nothing"


class SlowFirstRefresh(SlowEngine):
    """The real engine whose first decode takes `step_s` a step (it sleeps before each `give_way` question):
    a provisional refresh that would run for seconds. The decodes after it run at full speed."""

    def __init__(self, engine: AsrEngine, step_s: float) -> None:
        super().__init__(engine, seconds=0.0)
        self.step_s = step_s

    def transcribe(self, audios: Sequence[np.ndarray], **kwargs: object) -> list[ChunkOutput]:
        ask = kwargs.get("give_way")
        if callable(ask) and not self.calls:

            def slowly() -> bool:
                time.sleep(self.step_s)
                return bool(ask())

            kwargs["give_way"] = slowly
        return super().transcribe(audios, **kwargs)  # type: ignore[arg-type]


def test_a_refresh_in_flight_gives_way_when_its_utterance_ends_and_the_commit_is_a_plain_decode(
    random_checkpoint: Path, voice: np.ndarray
) -> None:
    """Random weights never stop: the first provisional decode would run its whole budget (~40 steps, 8 s
    here). When the speaker goes quiet it gives way; what it had becomes the next decode's draft, and the
    committed tokens are exactly what a plain greedy decode of the utterance gives."""
    engine = AsrEngine.load(str(random_checkpoint), plan_device("float32"))
    slow = SlowFirstRefresh(engine, step_s=0.2)
    job = start(slow)
    started = time.monotonic()
    stream = np.concatenate([voice, PAUSE])
    assert feed(job, stream, speed=1.0)
    job.stop()
    outcome = job.wait(60)
    assert isinstance(outcome, Transcribed), outcome
    [segment] = outcome.transcript.segments
    [(end_s, at)] = job.timeline.commits
    assert at - (started + end_s) < 1.5, "committed about a pause after the speech, not after the refresh"
    assert not slow.outputs[0][0].complete, "the slow refresh gave way"
    assert slow.drafts[1] == [slow.outputs[0][0].token_ids], "what it had is the next decode's draft"
    audio = stream[int(segment.start * SAMPLE_RATE) : int(segment.end * SAMPLE_RATE)]
    budget = slow.outputs[-1][0]
    [plain] = engine.transcribe([audio], max_new_tokens=len(budget.token_ids))
    assert budget.token_ids == plain.token_ids and segment.text == plain.text.strip()

"""Live transcription: a microphone's audio as it comes, text while people speak, a normal outcome at Stop.

A `LiveJob` is a job (`asr.job.run_in_workspace`: the private folder, the redaction, the errors as outcomes)
whose audio arrives in pieces (`feed`) instead of as a file. One worker thread per recording writes each piece
to the job's WAV, scores it 32 ms at a time with the speech detector and cuts utterances
(`asr.speech.utterances`). While someone speaks, the utterance so far is decoded again every `STEP_S` or so:
provisional text over a window the utterance's maximum length bounds, never the whole recording (re-feeding
everything, as the official streaming recipe does, grows quadratically and stops keeping up on a CPU within
seconds). When the speaker goes quiet the utterance is decoded at once, before the pause is long enough to end
it; when it does end, that decode is the committed segment, so text is final about a pause after the last
word. The language is checked on the first utterance that has one, by the file's policy
(`asr.langid.is_accepted`), and the decision is kept; each utterance is tagged by the model, as a file's
chunks are.

Nothing is decoded twice that need not be (an engine with `Capabilities.drafts`, the in-process one):
* every re-decode of an utterance (refresh, commit, a row of a backlog batch) hands the engine its last
  hypothesis as a draft, verified in the prefill pass: only the tokens after the first one the model now
  disagrees with are generated, and the answer is the plain greedy decode's (`AsrEngine._drafted`);
* the engine keeps what the last decode of the growing audio computed and cannot have changed: complete
  encoder chunks and windows, the template's cache (`asr.engines.prefill_memory`);
* a refresh gives way: between its decode steps it hears the audio that came (`_Recognizer.listen`), and it
  ends as soon as an utterance it does not cover closes, the speaker goes quiet (the decode up to the pause
  is due) or Stop; what it had becomes the draft of the decode that takes its place. So a refresh may run
  whenever the engine is free, and none starts while the speaker is pausing.
An engine without drafts (a vLLM server) goes on from the previous decode's text less its last
`ROLLBACK_PIECES` tokens (the official streaming recipe's rollback), and its refreshes, which run to their
end, take at most `ENGINE_SHARE` of its time.

Commits go first: no provisional text is refreshed while a finished utterance waits. The oldest one keeps
the text of a provisional decode that heard all of it; otherwise the utterances that wait are committed in
one engine call, as rows of one batch, each its own segment. When the engine cannot keep up, more of them
wait, and a call commits them all in about the time of one (a decode step on a CPU reads every weight once,
whatever the batch): longer steps, so the lag stops growing instead of growing without bound; past
`BEHIND_S` `LiveView.behind` says so. At Stop (or at the length limit) what is left is committed, and the
recording gets what a file gets: speakers over the whole recording, word times, the player. A recording
whose page stops sending audio for `IDLE_S` (a closed tab) is cancelled and its folder removed.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asr.engines.protocol import Cancel, ChunkOutput
from asr.errors import UserFacingError
from asr.job import (
    JobModels,
    JobOutcome,
    JobScope,
    Notice,
    find_speakers,
    run_in_workspace,
    words_and_speakers,
)
from asr.langid import is_accepted, refusal_error
from asr.outputs.confidence import fit_pieces
from asr.outputs.transcript import Piece, Segment, Timings, Transcript, clock
from asr.settings import Settings
from asr.speech.audio import SAMPLE_RATE
from asr.speech.chunking import Chunk
from asr.speech.detect import FRAME_SAMPLES
from asr.speech.utterances import StreamingVad, Utterance, UtteranceCutter
from asr.transcribe import TranscribeOptions, segment_of, token_budget, verdict_of

log = logging.getLogger(__name__)

STEP_S = 0.75  # provisional text is refreshed at most this often (from the start of one to the next)
ENGINE_SHARE = 1 / 3  # an engine without give_way: refreshes take at most this share, or commits starve
BEHIND_S = 4.0  # a finished utterance waiting this long for its text: the page says the machine is behind
IDLE_S = 10.0  # no audio for this long: the page that sent it is gone
ROLLBACK_PIECES = 5  # a re-decode goes on from the last text of its utterance less this many tokens
POLL_S = 0.05


@dataclass(frozen=True)
class LiveView:
    """What the page shows while a recording runs: committed segments, the utterance in progress, the lag."""

    committed: tuple[Segment, ...]
    provisional: str
    heard_s: float
    lag_s: float  # how long the oldest finished utterance has been waiting for its text
    behind: bool
    listening: bool
    outcome: JobOutcome | None  # once the recording has ended and its folder is gone


@dataclass
class LiveTimeline:
    """When things happened, on the job's clock, for `python -m bench live`."""

    commits: list[tuple[float, float]] = field(default_factory=list)  # (utterance end in the audio, at)
    provisionals: list[float] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (heard_s, oldest one's wait) per commit


class _Audio:
    """The stream's samples from `origin` on, float32; the part before what is still needed is dropped."""

    def __init__(self) -> None:
        self.origin = 0
        self.samples = np.zeros(0, dtype=np.float32)

    @property
    def end(self) -> int:
        return self.origin + len(self.samples)

    def append(self, pcm: np.ndarray) -> None:
        self.samples = np.concatenate([self.samples, pcm])

    def between(self, start_s: float, end_s: float) -> np.ndarray:
        a = max(0, int(start_s * SAMPLE_RATE) - self.origin)
        return self.samples[a : max(a, int(end_s * SAMPLE_RATE) - self.origin)]

    def forget_before(self, seconds: float) -> None:
        cut = int(seconds * SAMPLE_RATE) - self.origin
        if cut > 0:
            self.samples = self.samples[cut:]
            self.origin += cut


@dataclass(frozen=True)
class _Provisional:
    utterance: Utterance
    output: ChunkOutput
    budget: int


_JOBS: dict[str, LiveJob] = {}
_JOBS_LOCK = threading.Lock()


def live_job(token: str) -> LiveJob | None:
    """The running recording this token was given to (the page's capture script holds it), if any."""
    with _JOBS_LOCK:
        return _JOBS.get(token)


class LiveJob:
    """One recording from a microphone, transcribed while it is made; see the module's docstring."""

    def __init__(
        self,
        models: JobModels,
        settings: Settings,
        options: TranscribeOptions,
        *,
        session_id: str | None = None,
        playback: bool = False,
        step_s: float = STEP_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = secrets.token_urlsafe(24)
        self.timeline = LiveTimeline()
        self.step_s = step_s
        self._vad = StreamingVad()  # loaded before the first piece arrives, not while it waits
        self._models = models
        self._settings = settings
        self._clock = clock
        self._inbox: list[bytes] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel = Cancel()
        self._last_audio = clock()
        self._received = 0  # samples
        self._committed: list[Segment] = []
        self._provisional_text = ""
        self._heard_s = 0.0
        self._waiting_from: float | None = None  # end of the oldest finished utterance not yet committed
        self._outcome: JobOutcome | None = None
        with _JOBS_LOCK:
            _JOBS[self.token] = self
        self._thread = threading.Thread(
            target=self._main, args=(options, session_id, playback), name="live-job", daemon=True
        )
        self._thread.start()

    def feed(self, data: bytes) -> bool:
        """Take the next piece of the stream: 16 kHz mono 16-bit little-endian samples. False once the
        recording no longer takes audio (stopped, ended, or over the length limit): the sender stops."""
        if len(data) % 2:
            raise ValueError("16-bit samples come in whole pairs of bytes")
        if self._stop.is_set() or not self._thread.is_alive():
            return False
        with self._lock:
            self._inbox.append(data)
            self._received += len(data) // 2
            self._last_audio = self._clock()
        self._wake.set()
        return True

    def stop(self) -> None:
        """End the recording: what was heard is committed and the outcome made (`view().outcome`)."""
        self._stop.set()
        self._wake.set()

    def cancel(self) -> None:
        """End the recording without its last text (a second Ctrl-C): the engine call in flight finishes,
        nothing more is decoded, and the folder is removed; the outcome is `Cancelled`."""
        self._cancel.set()
        self.stop()

    def wait(self, timeout: float | None = None) -> JobOutcome | None:
        self._thread.join(timeout)
        return self._outcome

    @property
    def ended(self) -> bool:
        """Its worker is gone: the outcome is made, or (a failure no outcome could hold) never will be."""
        return not self._thread.is_alive()

    def view(self) -> LiveView:
        """Read at any time, also while the worker is inside an engine call: the lag is counted up to now."""
        with self._lock:
            waiting = self._waiting_from
            lag_s = 0.0 if waiting is None else max(0.0, self._received / SAMPLE_RATE - waiting)
            return LiveView(
                tuple(self._committed),
                self._provisional_text,
                self._heard_s,
                lag_s,
                lag_s > BEHIND_S,
                not self._stop.is_set() and self._thread.is_alive(),
                self._outcome,
            )

    def _main(self, options: TranscribeOptions, session_id: str | None, playback: bool) -> None:
        try:
            self._outcome = run_in_workspace(
                self._listen, self._models, self._settings, options, session_id=session_id, playback=playback
            )
        finally:
            self._stop.set()
            with _JOBS_LOCK:
                _JOBS.pop(self.token, None)
            # what an engine kept of the recording's last utterance between decodes goes with the recording
            forget = getattr(self._models.backend, "forget_kept", None)
            if callable(forget):
                forget()
            log.info("Live recording ended")

    def _take_inbox(self) -> bytes:
        with self._lock:
            data, self._inbox = b"".join(self._inbox), []
            return data

    def _listen(self, scope: JobScope) -> Transcript | None:
        log.info("Live recording started")
        with wave.open(str(scope.workspace.wav_path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            recognizer = _Recognizer(self, scope)
            if not self._record(wav, recognizer):
                return None
        transcript = recognizer.transcript(self._heard_s)
        diarization = find_speakers(self._models, scope, self._heard_s)
        return words_and_speakers(transcript, self._models, scope, diarization)

    def _record(self, wav: wave.Wave_write, recognizer: _Recognizer) -> bool:
        """Take audio until Stop; False when the page is gone (nothing to show anyone)."""
        written = [0]  # samples in the WAV, shared with the engine calls' hearing (`_Recognizer.listen`)
        recognizer.listen = lambda: self._hear(wav, recognizer, written)
        while True:
            ending = self._stop.is_set()
            recognizer.listen()
            if ending:
                recognizer.finish()
                return not self._cancel.is_set()
            if self._clock() - self._last_audio > IDLE_S:
                log.info("Live recording abandoned: no audio for %.0f s", IDLE_S)
                self._cancel.set()
                return False
            if not recognizer.step():
                self._wake.wait(POLL_S)
                self._wake.clear()

    def _hear(self, wav: wave.Wave_write, recognizer: _Recognizer, written: list[int]) -> None:
        """What arrived since the last look: into the WAV, through the detector, cut into utterances. Also
        called between the decode steps of an engine call, so the detector keeps up while the engine works."""
        limit = int(self._settings.max_seconds * SAMPLE_RATE)
        data = self._take_inbox()
        if written[0] + len(data) // 2 > limit:
            data = data[: 2 * (limit - written[0])]
            recognizer.scope.warnings.append(
                Notice("live_limit_reached", {"limit": clock(limit / SAMPLE_RATE)})
            )
            self._stop.set()
        if data:
            wav.writeframes(data)
            written[0] += len(data) // 2
            recognizer.hear(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0)
        self._heard_s = written[0] / SAMPLE_RATE

    def _show(self, committed: list[Segment], provisional: str, waiting: list[Utterance]) -> None:
        with self._lock:
            self._committed.extend(committed)
            self._provisional_text = provisional
            self._waiting_from = waiting[0].end_s if waiting else None

    def _waiting(self, waiting: list[Utterance]) -> None:
        with self._lock:
            self._waiting_from = waiting[0].end_s if waiting else None


class _Recognizer:
    """The worker's side of a recording: detector, utterances, engine calls, and the segments so far."""

    def __init__(self, job: LiveJob, scope: JobScope) -> None:
        self.job = job
        self.scope = scope
        self.options = scope.options
        self.backend = job._models.backend
        self.drafts = self.backend.capabilities.drafts
        self.vad = job._vad
        self.cutter = UtteranceCutter()
        self.audio = _Audio()
        self.listen: Callable[[], None] = lambda: None  # takes the audio that arrived (`LiveJob._hear`)
        self.pending: list[Utterance] = []
        self.provisional: _Provisional | None = None
        self.hypotheses: dict[float, ChunkOutput] = {}  # utterance start -> its last decode (a draft)
        self.next_provisional = 0.0
        self.segments: list[Segment] = []
        self.languages: list[str | None] = []
        self.probs: list[float] = []
        self.checked = self.options.language is not None or self.options.accepted is None
        self.engine_s = 0.0
        self.check_s = 0.0
        self.chunks = 0

    def hear(self, pcm: np.ndarray) -> None:
        self.audio.append(pcm)
        while self.audio.end - self.cutter.frames * FRAME_SAMPLES >= FRAME_SAMPLES:
            at = self.cutter.frames * FRAME_SAMPLES - self.audio.origin
            self.cutter.push(self.vad.probability(self.audio.samples[at : at + FRAME_SAMPLES]))
        closed = self.cutter.take_closed()
        if closed:
            self.pending.extend(closed)
            self.job._waiting(self.pending)
        self._forget()

    def _forget(self) -> None:
        """Drop the samples no utterance can still need (silence long past, committed speech)."""
        current = self.cutter.current()
        starts = [u.start_s for u in self.pending] + ([current.start_s] if current else [])
        self.audio.forget_before(min([*starts, self.cutter.heard_s - 1.0]))

    def step(self) -> bool:
        """One engine call, if one is due: a commit before a provisional. False when there was none."""
        if self.pending:
            self.commit(self._due())
            return True
        current = self.cutter.current()  # nothing waits for its commit: the text in progress may refresh
        if current is None:
            return False
        last = self.provisional
        if last is not None and last.utterance == current and last.output.complete:
            return False
        went_quiet = self.cutter.quiet  # decode now: when the pause ends the utterance, this is its text
        cut_short = last is not None and not last.output.complete  # it gave way to this decode: go on now
        if not went_quiet and not cut_short and self._refresh_waits(current):
            return False
        started = self.job._clock()
        give_way = self._gives_way(current, went_quiet) if self.drafts else None
        [output], budget = self._decode([current], self._prefix_for(current), give_way)
        took = self.job._clock() - started
        if self.drafts:  # it gives way to a commit, so it may take the engine whenever nothing else does
            self.next_provisional = started + self.job.step_s
        else:  # it runs to its end whatever waits: leave the engine to commits most of the time
            self.next_provisional = self.job._clock() + max(self.job.step_s, took * (1 / ENGINE_SHARE - 1))
        self.provisional = _Provisional(current, output, budget)
        if output.complete:
            self.job.timeline.provisionals.append(self.job._clock())
            self.job._show([], output.text, self.pending)
        return True

    def _refresh_waits(self, current: Utterance) -> bool:
        """No refresh now: one began less than a step ago, or it would soon give way, to the decode up to the
        pause the speaker is making, or to the commit of the cut one step before the maximum length."""
        near_cut = current.end_s - current.start_s > self.cutter.max_s - self.job.step_s
        return self.cutter.pausing or near_cut or self.job._clock() < self.next_provisional

    def _gives_way(self, span: Utterance, went_quiet: bool) -> Callable[[], bool]:
        """Asked between the decode steps of a provisional decode of `span`: it hears the audio that came,
        and ends the decode when what it is making is no longer what is needed first: an utterance closed
        that this decode does not cover (its commit goes first), the speaker went quiet (the decode up to
        the pause is due), Stop or a cancel. What it decoded so far becomes the next decode's draft."""

        def give_way() -> bool:
            self.listen()
            if self.job._stop.is_set():
                return True
            if self.pending:
                return not (len(self.pending) == 1 and _covers(span, self.pending[0]))
            return not went_quiet and self.cutter.quiet

        return give_way

    def _due(self) -> list[Utterance]:
        """What the next commit takes: the oldest waiting utterance alone when a provisional decode already
        heard all of it (its text is ready) or, on an engine without drafts, when that decode can be gone on
        from (a batch row cannot go on from a text of its own); otherwise every utterance that waits, as
        rows of one batch, each with its draft."""
        first, last = self.pending[0], self.provisional
        if last is not None and last.output.complete and _covers(last.utterance, first):
            return [first]
        if not self.drafts and self._prefix_for(first) is not None:
            return [first]
        return list(self.pending)

    def finish(self) -> None:
        self.cutter.finish()
        self.pending.extend(self.cutter.take_closed())
        while self.pending and not self.job._cancel.is_set():
            self.commit(self._due())

    def commit(self, utterances: list[Utterance]) -> None:
        """Commit these utterances, each its own segment: the one a provisional decode already heard whole
        keeps that text; the others are decoded as rows of one batch (a CPU decode step reads every weight
        once whatever the batch, so a machine that fell behind catches up on all that waits in about the
        time of the longest), each from its draft, or (an engine without drafts, one utterance) going on
        from its provisional text."""
        utterances = list(utterances)  # `self.pending` is emptied below
        last = self.provisional
        if (
            len(utterances) == 1
            and last is not None
            and last.output.complete
            and _covers(last.utterance, utterances[0])
        ):
            outputs = [(last.output, last.budget)]
        else:
            size = max(1, self.backend.preferred_batch_size())
            outputs = []
            prefix = self._prefix_for(utterances[0]) if len(utterances) == 1 else None
            for at in range(0, len(utterances), size):
                said, budget = self._decode(utterances[at : at + size], prefix)
                outputs.extend((output, budget) for output in said)
        received_s = self.job._received / SAMPLE_RATE
        now = self.job._clock()
        for utterance in utterances:
            self.job.timeline.commits.append((utterance.end_s, now))
            self.hypotheses.pop(utterance.start_s, None)
        self.job.timeline.lags.append((self.cutter.heard_s, received_s - utterances[0].end_s))
        del self.pending[: len(utterances)]
        self.provisional = None
        added = [self._segment(u, *decoded) for u, decoded in zip(utterances, outputs, strict=True)]
        self.scope.redaction.add(added)
        self.segments.extend(added)
        self._forget()
        self.job._show(added, "", self.pending)

    def _segment(self, span: Utterance, output: ChunkOutput, budget: int) -> Segment:
        segment = segment_of(Chunk(self.chunks, span.start_s, span.end_s), output, budget)
        self.chunks += 1
        if output.language is not None:
            self.languages.append(output.language)
            self.probs.append(output.language_prob or 0.0)
            if not self.checked:
                accepted = self.options.accepted or frozenset()
                if not is_accepted(output.language, accepted):
                    log.info("Language refused on the first utterance")
                    raise refusal_error(accepted, output.language)
                self.checked = True
                self.check_s = self.engine_s
        return segment

    def _prefix_for(self, span: Utterance) -> ChunkOutput | None:
        """On an engine without drafts: the last decode of this same utterance (same start, less audio),
        when the engine can go on from its text: then only the words after it, and the last few before it,
        are decoded again (the official streaming recipe's rollback). The model's tag of that decode is
        kept as the language."""
        last = self.provisional
        if (
            self.drafts
            or last is None
            or not self.backend.capabilities.answer_prefix
            or abs(last.utterance.start_s - span.start_s) > 1e-6
            or last.output.language is None
            or len(last.output.pieces) <= ROLLBACK_PIECES
        ):
            return None
        return last.output

    def _draft_for(self, span: Utterance) -> tuple[int, ...]:
        """The tokens of the last decode of the utterance that starts where `span` does (none: no draft)."""
        last = self.hypotheses.get(span.start_s)
        return last.token_ids if last is not None else ()

    def _remember(self, span: Utterance, output: ChunkOutput) -> None:
        """Keep `output` as the draft of the next decode of its utterance. A decode cut short that agrees with
        the one before it, as far as it got, keeps that one's longer text."""
        before = self.hypotheses.get(span.start_s)
        cut = output.token_ids
        if not output.complete and before is not None and before.token_ids[: len(cut)] == cut:
            return
        self.hypotheses[span.start_s] = output

    def _decode(
        self,
        spans: list[Utterance],
        before: ChunkOutput | None = None,
        give_way: Callable[[], bool] | None = None,
    ) -> tuple[list[ChunkOutput], int]:
        """One engine call: each span from its draft (an engine with drafts), or with `before` (one span)
        going on from that decode's text less its tail."""
        budget = token_budget([Chunk(0, s.start_s, s.end_s) for s in spans], self.options.tokens_per_second)
        kept = before.pieces[:-ROLLBACK_PIECES] if before is not None else ()
        prefix = "".join(piece.text for piece in kept)
        extra: dict[str, Any] = {}
        if self.drafts:
            extra = {"drafts": [self._draft_for(s) for s in spans], "give_way": give_way}
        started = time.perf_counter()
        outputs = self.backend.transcribe(
            [self.audio.between(s.start_s, s.end_s) for s in spans],
            language=before.language if before is not None else self.options.language,
            context=self.options.context,
            max_new_tokens=budget,
            cancel=self.job._cancel,
            prefix=prefix or None,
            **extra,
        )
        self.engine_s += time.perf_counter() - started
        if before is not None and prefix:
            outputs = [_continued(before, kept, prefix, outputs[0])]
        for span, output in zip(spans, outputs, strict=True):
            if self.drafts:
                self._remember(span, output)
        return outputs, budget

    def transcript(self, duration_s: float) -> Transcript:
        if not self.segments:
            raise UserFacingError("no_speech")
        texts = [s.text for s in self.segments]
        verdict = verdict_of(self.options, self.languages, self.probs, texts, self.check_s)
        return Transcript(
            segments=tuple(self.segments),
            verdict=verdict,
            duration_s=duration_s,
            timings=Timings(self.engine_s, self.check_s),
            language_check=self.options.language_check,
            forced_language=self.options.language,
        )


def _continued(before: ChunkOutput, kept: Sequence[Piece], prefix: str, after: ChunkOutput) -> ChunkOutput:
    """The whole answer of a decode that went on from `prefix`: the kept text and pieces, then the new."""
    text = (prefix + after.raw).strip()
    added = list(after.pieces)
    space = after.raw[: len(after.raw) - len(after.raw.lstrip())]
    if added and space:
        added[0] = Piece(space + added[0].text, added[0].probability)
    return ChunkOutput(
        language=before.language,
        text=text,
        raw=prefix + after.raw,
        language_prob=before.language_prob,
        tokens=after.tokens,
        pieces=fit_pieces([*kept, *added], text),
    )


def _covers(decoded: Utterance, span: Utterance) -> bool:
    """A provisional decode of the same utterance that already heard all of it (it ran during the pause)."""
    return abs(decoded.start_s - span.start_s) < 1e-6 and decoded.end_s >= span.end_s - 1e-6

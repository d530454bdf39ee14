"""`python -m asr live`: the page's live mode in a terminal, fed by the computer's input device.

The recording is a `asr.live.LiveJob`, as on the page: the same utterances, provisional text, commits, length
limit and private folder, and at Stop the same outcome a file gets (speakers, word times). This module is
only its terminal view: each committed segment is printed to stdout once, as a "[mm:ss] text" line, the
moment it is final; on a terminal the utterance in progress is shown on the line below it and redrawn in
place. Where stdout is a file or a pipe it gets the committed lines only. stderr gets what the page says
around the text (listening, behind, finishing), never a word of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from typing import TextIO

from asr.i18n import Lang, t
from asr.job import JobModels, JobOutcome
from asr.live import LiveJob, LiveView
from asr.outputs.export import char_width
from asr.outputs.transcript import clock
from asr.settings import Settings
from asr.transcribe import TranscribeOptions

_CLEAR_LINE = "\r\x1b[K"
_DIM, _PLAIN = "\x1b[2m", "\x1b[0m"


class LiveScreen:
    """Committed lines as they come; the provisional line under them where `out` is a terminal."""

    def __init__(self, out: TextIO, say: Callable[[str], None], lang: Lang) -> None:
        self._out = out
        self._say = say
        self._lang = lang
        self._terminal = out.isatty()
        self._printed = 0
        self._provisional = ""
        self._behind = False

    def show(self, view: LiveView) -> None:
        new = view.committed[self._printed :]
        provisional = view.provisional if self._terminal else ""
        if new or provisional != self._provisional:
            if self._terminal and self._provisional:
                self._out.write(_CLEAR_LINE)
            for segment in new:
                self._out.write(f"[{clock(segment.start)}] {segment.text}\n")
            if provisional:
                width = max(20, shutil.get_terminal_size().columns - 1)
                self._out.write(f"{_DIM}{_tail(provisional, width)}{_PLAIN}")
            self._out.flush()
            self._printed += len(new)
            self._provisional = provisional
        if view.behind and not self._behind:
            self._say(t("ui_live_behind", self._lang, seconds=view.lag_s))
        self._behind = view.behind


def _tail(text: str, width: int) -> str:
    """The end of `text` that fits one terminal line (the newest words are the ones worth seeing), counting
    Chinese characters as the two columns a terminal gives them: a wrapped line could not be redrawn."""
    used, start = 0, len(text)
    while start > 0 and used + char_width(text[start - 1]) <= width - 1:
        start -= 1
        used += char_width(text[start])
    return text if start == 0 else "…" + text[start:]


def record(
    pieces: Iterable[bytes],
    models: JobModels,
    settings: Settings,
    options: TranscribeOptions,
    screen: LiveScreen,
    say: Callable[[str], None],
    lang: Lang,
) -> JobOutcome | None:
    """Feed the job what the device hears until Ctrl-C (or the length limit), then Stop and wait for the
    outcome, showing committed text all along. A second Ctrl-C while it finishes cancels the job (the engine
    call in flight ends first) and goes on up to the caller."""
    job = LiveJob(models, settings, options)
    say(t("cli_live_listening", lang))
    try:
        for piece in pieces:
            if piece and not job.feed(piece):
                break  # the job takes no more audio: the length limit, or it ended
            screen.show(job.view())
    except KeyboardInterrupt:
        pass
    job.stop()
    say(t("ui_live_finishing", lang))
    try:
        return _outcome(job, screen)
    except KeyboardInterrupt:  # a second Ctrl-C: no more text, the folder removed, then exit
        job.cancel()
        job.wait()
        raise


def _outcome(job: LiveJob, screen: LiveScreen) -> JobOutcome | None:
    """Wait for the job's outcome, showing the text it commits meanwhile."""
    while True:
        outcome = job.wait(0.2)
        screen.show(job.view())
        if outcome is not None or job.ended:
            return outcome

"""A `Transcript` as a Word document (.docx), built in memory with python-docx.

For the people who take a transcript further by hand (a journalist's quotes, a lawyer's memo): a title,
one line saying what the document is, then one paragraph per speaker turn (or per segment without
speakers), each under a line saying who spoke and when, so every paragraph can be checked against the
recording and edited in Word. The package's template carries an author ("python-docx") and a 2013 date
in its properties; both are replaced, so the file says nothing about who or what made it beyond this text.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from docx import Document
from docx.shared import Pt, RGBColor

from asr.outputs.transcript import Names, Transcript, clock, speaker_name, speaker_turns

_TIME_COLOUR = RGBColor(0x80, 0x80, 0x80)


def to_docx(transcript: Transcript, names: Names | None = None, title: str | None = None) -> bytes:
    document = Document()
    heading = title or "Transcript"
    document.add_heading(heading, level=1)
    verdict = transcript.verdict
    about = f"{verdict.language_name or transcript.forced_language or '?'} · {clock(transcript.duration_s)}"
    document.add_paragraph(about).runs[0].font.color.rgb = _TIME_COLOUR
    for speaker, start, text in _paragraphs(transcript):
        label = document.add_paragraph()
        label.paragraph_format.keep_with_next = True
        label.paragraph_format.space_after = Pt(0)
        if speaker is not None:
            label.add_run(speaker_name(speaker, names)).bold = True
            label.add_run(" · ")
        stamp = label.add_run(clock(start))
        stamp.font.color.rgb = _TIME_COLOUR
        stamp.font.size = Pt(9)
        document.add_paragraph(text)
    properties = document.core_properties
    now = datetime.now(UTC).replace(microsecond=0)
    properties.author = properties.last_modified_by = properties.comments = properties.keywords = ""
    properties.title = heading
    properties.created = properties.modified = now
    properties.revision = 1
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _paragraphs(transcript: Transcript) -> list[tuple[int | None, float, str]]:
    """Speaker turns when speakers were identified; else each segment, so each keeps its own time."""
    if transcript.speakers:
        return speaker_turns(transcript)
    return [(None, s.start, s.text.strip()) for s in transcript.segments if s.text.strip()]

"""The review list: a card's timed segments (or the ones a search found) as escaped HTML.

`REVIEW_SCRIPT` is drawn once per page; it finds each list by its `data-player` key, so a click on a time
plays that card's recording from there and, while it plays, the segment (and word) under the playhead is
lit. No transcript text is ever inside the script: the lists carry it, escaped.
"""

from __future__ import annotations

import html

from asr.i18n import Lang, t
from asr.outputs.review import Match, ReviewSegment, ReviewWord
from asr.outputs.transcript import clock
from page import asset

REVIEW_SCRIPT = f"<script>\n{asset('review.js')}</script>"
_STYLE = f"<style>\n{asset('review.css')}</style>"


def _who(speaker: int | None, names: dict[int, str]) -> str:
    name = names.get(speaker) if speaker is not None else None
    return f'<span class="asr-who">{html.escape(name)}</span>' if name else ""


def _seek(start: float) -> str:
    return f'<button class="asr-time" data-seek="{start:.2f}">{clock(start)}</button>'


def _word_html(word: ReviewWord, threshold: float, lang: Lang) -> str:
    text = html.escape(word.text)
    if word.probability is not None and word.probability < threshold:
        percent = round(word.probability * 100)
        text = (
            f'<mark class="asr-low" title="{t("ui_word_probability", lang, percent=percent)}">{text}</mark>'
        )
    if word.start is not None and word.end is not None:
        text = f'<span class="asr-w" data-start="{word.start:.2f}" data-end="{word.end:.2f}">{text}</span>'
    return (" " if word.space_before else "") + text


def review_html(
    segments: list[ReviewSegment], names: dict[int, str], threshold: float, player: str, lang: Lang
) -> str:
    """The timed segments as one block of escaped HTML, words below `threshold` marked; `player` is the key
    of the card's player, which `REVIEW_SCRIPT` plays from a clicked time."""
    rows = [
        f'<div class="asr-seg" data-start="{s.start:.2f}" data-end="{s.end:.2f}">{_seek(s.start)}'
        f"{_who(s.speaker, names)}{''.join(_word_html(w, threshold, lang) for w in s.words).lstrip()}</div>"
        for s in segments
    ]
    return f'<div class="asr-review" data-player="{player}">{"".join(rows)}</div>{_STYLE}'


def found_html(matches: list[Match], names: dict[int, str], player: str) -> str:
    """The segments a search found, the found text marked, each time playing from there."""
    rows = []
    for match in matches:
        parts, at = [], 0
        for start, end in match.spans:
            parts += [
                html.escape(match.text[at:start]),
                f'<mark class="asr-hit">{html.escape(match.text[start:end])}</mark>',
            ]
            at = end
        parts.append(html.escape(match.text[at:]))
        rows.append(
            f'<div class="asr-seg">{_seek(match.start)}{_who(match.speaker, names)}{"".join(parts)}</div>'
        )
    return f'<div class="asr-found" data-player="{player}">{"".join(rows)}</div>{_STYLE}'

"""How sure the model was of each part of a segment, from the probabilities `generate` already computed.

The engine records, at every decoding step, the probability of the token greedy search chose
(`asr.engines.transformers_engine._TokenProbs`); the pieces of text those tokens spell travel with the segment
(`Segment.pieces`). This module only reads them: nothing here runs the model, so a mark costs no extra pass.

Why these measures:

* A word is as doubtful as its least certain piece (the minimum): "Zan|zibar" with "zibar" at 0.3 is a word
  to check, however sure the model was of "Zan".
* A segment's figure is the geometric mean of its pieces (exp of the mean log-probability, Whisper's
  `avg_logprob` read as a probability): one doubtful word in a long segment lowers it without hiding it.
* Text that no longer matches the pieces (the user edited it, a runaway repeat was cut) keeps the pieces
  that still spell its start and has no figure for the rest: a probability is never shown for words the
  model did not write.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from asr.outputs.transcript import Piece, Segment

#: Words the model gave less than this probability are marked for checking (`ASR_LOW_CONFIDENCE`).
DEFAULT_LOW_CONFIDENCE = 0.5


def fit_pieces(pieces: Sequence[Piece], text: str) -> tuple[Piece, ...]:
    """The pieces that spell `text` from its start, trimmed to it.

    Leading whitespace the text was stripped of is dropped; where text and pieces part (a cut repeat, an
    edit), the last piece is cut to what they share and the run ends.
    """
    fitted: list[Piece] = []
    at = 0
    for piece in pieces:
        chunk = piece.text.lstrip() if at == 0 else piece.text
        if not chunk:
            continue
        if text.startswith(chunk, at):
            fitted.append(Piece(chunk, piece.probability))
            at += len(chunk)
            continue
        shared = os.path.commonprefix([text[at:], chunk])
        if shared.strip():
            fitted.append(Piece(shared, piece.probability))
        break
    return tuple(fitted)


def segment_probability(segment: Segment) -> float | None:
    """The geometric mean of the segment's piece probabilities; None when it has none (edited, forced off)."""
    if not segment.pieces:
        return None
    logs = [math.log(max(piece.probability, 1e-12)) for piece in segment.pieces]
    return math.exp(sum(logs) / len(logs))


def span_probabilities(pieces: Sequence[Piece], spans: Sequence[tuple[int, int]]) -> list[float | None]:
    """For each character span [start, end) of the text the pieces spell (in order, not overlapping), the
    least probability of the pieces it overlaps; None for a span past the pieces' end (text the model did
    not write). One pass over both: a 1-hour transcript is scored on every redraw of the page."""
    bounds = []
    at = 0
    for piece in pieces:
        bounds.append((at, at + len(piece.text), piece.probability))
        at += len(piece.text)
    found: list[float | None] = []
    first = 0
    for start, end in spans:
        while first < len(bounds) and bounds[first][1] <= start:
            first += 1
        if end > at or first == len(bounds):
            found.append(None)
            continue
        least = 1.0
        index = first
        while index < len(bounds) and bounds[index][0] < end:
            least = min(least, bounds[index][2])
            index += 1
        found.append(least)
    return found

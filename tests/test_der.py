"""The diarization error rate the bench reports, on cases small enough to score by hand."""

from __future__ import annotations

import pytest

from bench.der import Turn, der, read_rttm

A, B = "alice", "bob"
REFERENCE = [Turn(0.0, 4.0, A), Turn(4.0, 10.0, B)]  # 10 s of speech


def test_a_perfect_hypothesis_scores_zero_whatever_its_labels_are_called() -> None:
    score = der(REFERENCE, [Turn(0.0, 4.0, "spk7"), Turn(4.0, 10.0, "spk2")])
    assert score.der == 0.0
    assert score.reference_s == pytest.approx(10.0)


def test_one_speaker_for_everything_is_the_shorter_voice_confused() -> None:
    score = der(REFERENCE, [Turn(0.0, 10.0, "x")])
    assert score.confusion_s == pytest.approx(4.0)  # "x" maps to bob (6 s shared); alice's 4 s are wrong
    assert score.missed_s == score.false_alarm_s == 0.0
    assert score.der == pytest.approx(0.4)


def test_missed_speech_and_false_alarm_are_counted_in_seconds() -> None:
    hypothesis = [Turn(0.0, 3.0, "x"), Turn(4.0, 11.0, "y")]  # 1 s of alice missed, 1 s past the end
    score = der(REFERENCE, hypothesis)
    assert score.missed_s == pytest.approx(1.0)
    assert score.false_alarm_s == pytest.approx(1.0)
    assert score.confusion_s == 0.0
    assert score.der == pytest.approx(0.2)


def test_overlapped_reference_counts_each_voice_and_a_single_label_misses_one() -> None:
    reference = [Turn(0.0, 6.0, A), Turn(4.0, 10.0, B)]  # 2 s of both: 12 s of speaker time
    score = der(reference, [Turn(0.0, 5.0, "x"), Turn(5.0, 10.0, "y")])
    assert score.reference_s == pytest.approx(12.0)
    # frames 4-6 s: two reference voices, one hypothesis voice -> 2 s missed; 5-6 s "y" (bob) is right, and
    # 4-5 s "x" (alice) is right: no confusion.
    assert score.missed_s == pytest.approx(2.0)
    assert score.confusion_s == 0.0
    assert score.der == pytest.approx(2.0 / 12.0)


def test_a_collar_forgives_a_boundary_that_is_a_little_late() -> None:
    late = [Turn(0.0, 4.2, "x"), Turn(4.2, 10.0, "y")]  # 0.2 s of bob given to alice
    assert der(REFERENCE, late).confusion_s == pytest.approx(0.2)
    forgiven = der(REFERENCE, late, collar=0.25)
    assert forgiven.der == 0.0
    # scored time: 10 s less 0.25 s at 0 and at 10, and 0.5 s around 4 s (the shared edge counted once)
    assert forgiven.reference_s == pytest.approx(9.0)


def test_an_extra_hypothesis_speaker_is_confusion_not_a_free_label() -> None:
    hypothesis = [Turn(0.0, 4.0, "x"), Turn(4.0, 7.0, "y"), Turn(7.0, 10.0, "z")]
    score = der(REFERENCE, hypothesis)
    assert score.confusion_s == pytest.approx(3.0)  # one of bob's halves has no reference speaker left
    assert score.der == pytest.approx(0.3)


def test_rttm_lines_are_read_and_other_lines_skipped() -> None:
    text = (
        ";; a comment\n"
        "SPEAKER call 1 0.50 2.25 <NA> <NA> alice <NA> <NA>\n"
        "SPKR-INFO call 1 <NA> <NA> <NA> unknown bob <NA> <NA>\n"
        "SPEAKER call 1 3.00 1.00 <NA> <NA> bob <NA> <NA>\n"
    )
    assert read_rttm(text) == [Turn(0.5, 2.75, "alice"), Turn(3.0, 4.0, "bob")]

"""`python -m bench diarize --known`: clips cut from one recording name the speakers of another.

Real recordings in which the same people speak twice: the AMI excerpts of one meeting in pyannote.audio's
source archive (their reference labels are AMI's participant ids, the same in every excerpt), and pyannote's
sample call, whose two voices recur in the conversations assembled from it (`bench.diarize.recordings`).
For each pair, a clip of each shared person is cut from the first recording (their single-voice stretches,
laid end to end with short pauses, up to `CLIP_S`), both are encoded in one codec as a user would upload
them, and the second is transcribed as the CLI does it with those clips as known voices. Three runs per
recording and codec: every shared voice known; only one of them known (the others must stay unnamed); only
strangers known (clips of people from the other recordings: nobody may be named).

Scored on the diarizer's turns of the JSON export (their speaker's `name`) against the reference's
single-voice stretches: the share of known voices' time given the right name, and the share of the other
voices' time given a known name. Also printed: the cosine similarity of every found speaker (the reference
voice it overlaps most) to every known voice, same person and different people, which `MATCH_COSINE`
(`asr.speakers.known`) is set between.
"""

from __future__ import annotations

import json
import re
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.der import Turn
from bench.diarize import CODECS, Recording, _pcm, _single_voice_stretches, encode

if TYPE_CHECKING:
    from asr.outputs.transcript import Speaker
    from asr.speakers.known import KnownVoice

CLIP_S = 20.0  # the longest clip cut: what a user would bring, under the app's 30 s
MIN_CLIP_SPEECH_S = 3.0  # a person with less single-voice speech in the first recording gets no clip
GAP_S = 0.3
#: (clips from, names in): recordings by `bench.diarize.recordings` name
PAIRS = [
    ("AMI excerpt dev00", "AMI excerpt dev01"),
    ("AMI excerpt dev01", "AMI excerpt dev00"),
    ("AMI excerpt trn03", "AMI excerpt trn00"),
    ("AMI excerpt trn00", "AMI excerpt trn03"),
    ("AMI excerpt trn07", "AMI excerpt trn08"),
    ("AMI excerpt trn08", "AMI excerpt trn07"),
    ("AMI excerpt trn06", "AMI excerpt trn09"),
    ("AMI excerpt trn09", "AMI excerpt trn06"),
    ("pyannote sample call", "assembled from its voices #1"),
    ("assembled from its voices #2", "pyannote sample call"),
]
#: the assembled conversations call the sample call's voices 1 and 2, in the order of its own labels
_SAMPLE_VOICES = {"speaker90": "1", "speaker91": "2"}


def _person(recording: Recording, label: str) -> str:
    """The reference label as one person across recordings."""
    if recording.name.startswith("pyannote sample"):
        return _SAMPLE_VOICES.get(label, label)
    return label


def _slug(text: str) -> str:
    return re.sub(r"\W+", "-", text)


def people(recording: Recording) -> list[Turn]:
    """The reference's single-voice stretches, each labelled by person."""
    return [
        Turn(t.start, t.end, _person(recording, t.speaker))
        for t in _single_voice_stretches(recording.reference)
    ]


def cut_clips(source: Recording, folder: Path) -> dict[str, Path]:
    """A WAV clip of each person with `MIN_CLIP_SPEECH_S` of single-voice speech in `source`."""
    rate = 16000
    pcm = _pcm(source.wav)
    by_person: dict[str, list[Turn]] = {}
    for stretch in people(source):
        by_person.setdefault(stretch.speaker, []).append(stretch)
    clips = {}
    folder.mkdir(parents=True, exist_ok=True)
    for person, stretches in sorted(by_person.items()):
        if sum(s.end - s.start for s in stretches) < MIN_CLIP_SPEECH_S:
            continue
        pieces, total = [], 0.0
        for stretch in sorted(stretches, key=lambda s: s.start - s.end):  # the longest first
            take = min(stretch.end - stretch.start, CLIP_S - total)
            if take < 0.5:
                break
            pieces += [pcm[round(stretch.start * rate) : round((stretch.start + take) * rate)]]
            pieces += [np.zeros(round(GAP_S * rate), dtype=np.int16)]
            total += take + GAP_S
        path = folder / f"clip-{_slug(person)}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(np.concatenate(pieces).tobytes())
        clips[person] = path
    return clips


@dataclass(frozen=True)
class Named:
    """One run: the shares scored, and the similarities seen."""

    right_share: float | None  # known voices' single-voice time given the right name
    wrong_share: float | None  # other voices' single-voice time given a known name
    misnamed_share: float | None  # ... by a wrong match: the found speaker named is mostly someone else
    same: list[float]  # cosine of a found speaker to the known voice of the same person
    different: list[float]  # ... to a known voice of another person
    found: list[dict]  # each found speaker: its person, their share of its time, its cosine to each voice


def _overlap(a: Turn, b_start: float, b_end: float) -> float:
    return max(0.0, min(a.end, b_end) - max(a.start, b_start))


def score(
    target: Recording, document: dict, speakers: Sequence[Speaker], voices: Sequence[KnownVoice]
) -> Named:
    """The shares of `target`'s single-voice time named right / named wrongly, from the JSON export."""
    known = {voice.name for voice in voices}
    stretches = people(target)
    same, different, found = _similarities(stretches, document, speakers, voices)
    names = {s["label"]: s["name"] for s in document.get("speakers", [])}
    person = {f["label"]: f["person"] for f in found}
    turns = [
        (t["start"], t["end"], names.get(t["speaker"]), person.get(t["speaker"])) for t in _primary(document)
    ]
    right = known_time = wrong = misnamed = other_time = 0.0
    for stretch in stretches:
        length = stretch.end - stretch.start
        if stretch.speaker in known:
            known_time += length
            right += sum(_overlap(stretch, a, b) for a, b, name, _ in turns if name == stretch.speaker)
        else:
            other_time += length
            wrong += sum(_overlap(stretch, a, b) for a, b, name, _ in turns if name in known)
            misnamed += sum(
                _overlap(stretch, a, b) for a, b, name, who in turns if name in known and name != who
            )
    return Named(
        right / known_time if known_time else None,
        wrong / other_time if other_time else None,
        misnamed / other_time if other_time else None,
        same,
        different,
        found,
    )


def _primary(document: dict) -> list[dict]:
    """The diarizer's turns where one voice dominates (an overlap's second voice is a turn of its own)."""
    return [turn for turn in document.get("speaker_turns", []) if not turn["overlap"]]


def _similarities(
    stretches: list[Turn], document: dict, speakers: Sequence[Speaker], voices: Sequence[KnownVoice]
) -> tuple[list[float], list[float], list[dict]]:
    """Each found speaker's cosine to each known voice, split by whether it is the same person (the person
    whose single-voice time its turns overlap most)."""
    same, different, found = [], [], []
    for speaker in speakers:
        talk: dict[str, float] = {}
        for turn in _primary(document):
            if turn["speaker"] == speaker.label:
                for stretch in stretches:
                    overlap = _overlap(stretch, turn["start"], turn["end"])
                    talk[stretch.speaker] = talk.get(stretch.speaker, 0.0) + overlap
        if speaker.voice is None or not any(talk.values()):
            continue
        person = max(talk, key=lambda p: talk[p])
        sims = {voice.name: float(np.dot(speaker.voice, voice.print)) for voice in voices}
        for name, cosine in sims.items():
            (same if name == person else different).append(cosine)
        purity = talk[person] / sum(talk.values())
        found.append(
            {
                "label": speaker.label,
                "person": person,
                "purity": purity,
                "seconds": speaker.seconds,
                "sims": sims,
            }
        )
    return same, different, found


def _share(values: list[float]) -> str:
    return "—" if not values else f"{np.mean(values):.0%}"


def main(found: list[Recording], root: Path, engine: object, model: object) -> None:
    """The table: per pair and codec, every shared voice known, one known, and strangers known (clips of
    people from the other recordings, none of whom speaks in this one)."""
    from asr.job import Transcribed, run_job
    from asr.outputs.export import export
    from asr.settings import Settings
    from asr.speakers.known import MATCH_COSINE, Clip, enroll, match
    from asr.transcribe import TranscribeOptions
    from cleanup.workspace import job_workspace

    by_name = {recording.name: recording for recording in found}
    cut = {
        pair: cut_clips(by_name[pair[0]], root / "known-voices" / _slug(f"{pair[0]}-to-{pair[1]}"))
        for pair in PAIRS
        if pair[0] in by_name and pair[1] in by_name
    }
    everyone = {person: path for clips in cut.values() for person, path in sorted(clips.items())}

    cost = {"print_s": 0.0, "clip_s": 0.0, "match_s": 0.0, "matches": 0.0}

    def named(target: Recording, upload: Path, clips: dict[str, Path], codec: str) -> Named:
        with job_workspace() as folder:
            coded = [
                Clip(p, encode(path, codec, path.parent / f"{_slug(codec)}-{_slug(p)}"))
                for p, path in clips.items()
            ]
            started = time.perf_counter()
            voices = enroll(coded, model, folder.path)  # type: ignore[arg-type]
            cost["print_s"] += time.perf_counter() - started
            cost["clip_s"] += sum(_pcm(path).size / 16000 for path in clips.values())
        options = TranscribeOptions(identify_speakers=True, known_voices=tuple(voices))
        outcome = run_job(upload, engine, Settings(), options, speaker_model=model)  # type: ignore[arg-type]
        if not isinstance(outcome, Transcribed):
            raise RuntimeError(f"the job did not transcribe: {outcome.kind}")
        document = json.loads(export(outcome.transcript, "json"))
        started = time.perf_counter()
        match({s.label: s.voice for s in outcome.transcript.speakers if s.voice is not None}, voices)
        cost["match_s"] += time.perf_counter() - started
        cost["matches"] += 1
        return score(target, document, outcome.transcript.speakers, voices)

    print(
        "\n| clips from → named in | codec | voices known | right name, all known | right name, one known "
        "| others named, one known (by a wrong match) | named with only strangers known |"
    )
    print("|---|---|---|---|---|---|---|")
    same: list[float] = []
    different: list[float] = []
    totals: dict[str, list[float]] = {"right": [], "wrong": [], "misnamed": [], "strangers": []}
    runs: list[dict] = []
    for (source_name, target_name), clips in cut.items():
        target = by_name[target_name]
        target_people = {t.speaker for t in people(target)}
        shared = sorted(p for p in clips if p in target_people)
        strangers = [p for p in everyone if p not in target_people][:3]
        if not shared:
            continue
        every_voice = set(shared) == target_people
        for codec in CODECS:
            upload = encode(target.wav, codec, root / "codecs" / _slug(target.name))
            all_known = named(target, upload, {p: clips[p] for p in shared}, codec)
            one_known = named(target, upload, {shared[0]: clips[shared[0]]}, codec)
            by_strangers = named(target, upload, {p: everyone[p] for p in strangers}, codec)
            for scenario, run in (("all", all_known), ("one", one_known), ("strangers", by_strangers)):
                runs.append({"pair": [source_name, target_name], "codec": codec, "scenario": scenario})
                runs[-1]["found"] = run.found
            same += all_known.same + one_known.same
            different += all_known.different + one_known.different + by_strangers.different
            if every_voice and all_known.right_share is not None:
                totals["right"].append(all_known.right_share)
            for key, value in (
                ("wrong", one_known.wrong_share),
                ("misnamed", one_known.misnamed_share),
                ("strangers", by_strangers.wrong_share),
            ):
                if value is not None:
                    totals[key].append(value)
            others = "—"
            if one_known.wrong_share is not None:
                others = f"{one_known.wrong_share:.0%} ({one_known.misnamed_share:.0%})"
            cells = [
                f"{all_known.right_share:.0%}" + ("" if every_voice else " (not all known)"),
                f"{one_known.right_share:.0%}",
                others,
                _share([by_strangers.wrong_share] if by_strangers.wrong_share is not None else []),
            ]
            known = f"{len(shared)} of {len(target_people)}"
            row = f"| {source_name} → {target_name} | {codec} | {known} | " + " | ".join(cells) + " |"
            print(row, flush=True)
    if same and different:
        print(
            f"\ncosine of a found speaker to a known voice (MATCH_COSINE {MATCH_COSINE}): same person "
            f"{min(same):.2f}–{max(same):.2f} (median {np.median(same):.2f}, {len(same)} pairs); "
            f"another person {min(different):.2f}–{max(different):.2f} (median {np.median(different):.2f}, "
            f"{np.mean(np.array(different) >= MATCH_COSINE):.1%} of {len(different)} pairs at or over it)"
        )
    for key, label in (
        ("right", "right name where every voice is known"),
        ("wrong", "others named, one voice known"),
        ("misnamed", "... by a wrong match"),
        ("strangers", "named with only strangers known"),
    ):
        values = totals[key]
        worst = min(values, default=0.0) if key == "right" else max(values, default=0.0)
        print(f"{label}: mean {_share(values)}, worst {worst:.0%} ({len(values)} runs)")
    print(
        f"printing the clips: {cost['print_s']:.1f} s for {cost['clip_s']:.0f} s of clips "
        f"({cost['print_s'] / cost['clip_s'] * 20:.2f} s per 20 s clip, decoding included); matching: "
        f"{cost['match_s'] / cost['matches'] * 1000:.2f} ms per job"
    )
    (root / "known-voices" / "similarities.json").write_text(json.dumps(runs, ensure_ascii=False))

"""Streamlit view over the `asr` library: upload or record -> job -> result (copy, download).

No model code and no pipeline policy live here: the page draws widgets, hands each upload to `asr.job.run_job`
and draws the outcome it gets back; the raw HTML it draws (and that HTML's script and styles) is built in
`page/`. Transcripts stay in `st.session_state` (this browser session's memory), never on disk. The last lines
make this file the server's ASGI module too (`st.App`), so the process is secured before the first request
whether it was started with `python -m privacy` or `streamlit run app.py`.
"""

from __future__ import annotations

import functools
import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st
from streamlit.typing import UploadedFile

from api.routes import api_routes
from api.service import TranscriptionService
from asr.background import SHARED_MODELS, BackgroundLoad
from asr.errors import UserFacingError
from asr.i18n import Lang, settings_error, t, verdict_label
from asr.job import Cancelled, Cleanup, Failed, JobEvent, JobModels, JobOutcome, Notice, Transcribed, run_job
from asr.langid import ALL_LANGUAGES, DEFAULT_ACCEPTED
from asr.live import LiveJob
from asr.model_source import ALIGNER_ENV, DEFAULT_ALIGNER_ID, DEFAULT_MODEL_ID, MODEL_ENV, download_command
from asr.models import SpeakerFinder, WordTimer
from asr.outputs.export import FORMAT_NAMES, FORMATS, export, export_file
from asr.outputs.review import apply_edits, find_segments, review_segments
from asr.outputs.transcript import Transcript, clock
from asr.settings import Settings, SettingsError, load_settings
from asr.speakers.known import (
    KnownVoice,
    check_clip,
    clip_digest,
    combined,
    enroll_upload,
    read_voices_file,
    voices_file,
)
from asr.speech.audio import MEDIA_EXTENSIONS
from asr.transcribe import MAX_SPEAKERS, Progress, TranscribeOptions
from cleanup import release_session
from page.copy import copy_button_html
from page.live import capture_html, live_route, live_text_html
from page.review import REVIEW_SCRIPT, found_html, review_html
from page.text import plain
from page.uploads import share_upload_bytes
from privacy.process import secure_process
from privacy.selfcheck import self_check
from privacy.server_patches import host_check

if TYPE_CHECKING:
    from asr.engines.protocol import Backend

AUTO = "auto"
LIVE = "live:"  # the `file_id` of a live recording's card: no upload to transcribe again


@dataclass(frozen=True)
class Upload:
    """A file the page can transcribe: what its card is headed with, and the upload itself, whose
    `file_id` stays the same whatever happens to the other uploads (the microphone's recording has one
    too)."""

    name: str
    file: UploadedFile


@dataclass(frozen=True)
class Card:
    """One file's outcome, kept in session memory for the page to draw. `file_id` names the upload it
    came from, so "transcribe anyway" reruns that file or none; `id` is this outcome's own, and keys its
    widgets (names, find, edits, player, downloads), so a new outcome starts with fresh ones."""

    name: str
    file_id: str
    outcome: JobOutcome
    seconds: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def settings_or_error() -> Settings | SettingsError:
    """The environment's settings, checked at the top of every run; a bad value replaces the uploader."""
    try:
        return load_settings()
    except SettingsError as exc:
        return exc


@st.cache_resource(scope="session", on_release=release_session, show_spinner=False)
def session_id() -> str:
    """Ties job folders to this browser session; when it ends, leftovers of failed removals go too."""
    return uuid.uuid4().hex


@functools.cache
def api_service() -> TranscriptionService:
    """The `/v1` API this server also answers (`api`), on the page's settings and its one model."""
    return TranscriptionService(load_settings())


def ui_language() -> Lang:
    locale = (st.context.locale or "").lower()
    default = 0 if locale.startswith("zh") else 1
    choice = st.sidebar.radio("界面语言 / Language", ["中文", "English"], index=default, horizontal=True)
    return "zh" if choice == "中文" else "en"


def sidebar_options(lang: str) -> tuple[TranscribeOptions, Any]:
    """The user's choices, and the sidebar's place for the known voices, right under Identify speakers
    (filled once the speaker model is asked for)."""
    st.sidebar.subheader(t("ui_settings", lang))
    accepted = st.sidebar.multiselect(
        t("ui_accepted_languages", lang),
        ALL_LANGUAGES,
        default=[n for n in ALL_LANGUAGES if n in DEFAULT_ACCEPTED],
        key="accepted",
    )
    forced = st.sidebar.selectbox(
        t("ui_force_language", lang), [AUTO, *ALL_LANGUAGES], format_func=_auto(lang), key="forced"
    )
    context = st.sidebar.text_area(
        t("ui_context", lang), help=t("ui_context_help", lang), height=80, key="context"
    )
    words = st.sidebar.checkbox(
        t("ui_word_timestamps", lang), help=t("ui_word_timestamps_help", lang), key="word_timestamps"
    )
    speakers = st.sidebar.checkbox(
        t("ui_identify_speakers", lang), help=t("ui_identify_speakers_help", lang), key="identify_speakers"
    )
    count = AUTO
    if speakers:
        choices: list[str | int] = [AUTO, *range(2, MAX_SPEAKERS + 1)]
        count = st.sidebar.selectbox(
            t("ui_speaker_count", lang), choices, format_func=_auto(lang), key="speaker_count"
        )
    known_slot = st.sidebar.container()
    options = TranscribeOptions(
        language=None if forced == AUTO else forced,
        context=context.strip() or None,
        accepted=frozenset(accepted) or DEFAULT_ACCEPTED,
        word_timestamps=words,
        identify_speakers=speakers,
        speakers=None if count == AUTO else int(count),
    )
    return options, known_slot


def known_voices_panel(
    slot: Any, lang: Lang, speakers: BackgroundLoad[SpeakerFinder] | None, settings: Settings
) -> tuple[KnownVoice, ...]:
    """Known voices, under Identify speakers: add a name and a clip, forget one, save them to a file the
    user keeps, load that file back. They live in this browser session (`st.session_state`) only."""
    state = st.session_state
    voices: list[KnownVoice] = state.setdefault("known_voices", [])
    with slot.expander(t("ui_known_voices", lang), expanded=bool(voices)):
        st.caption(t("ui_known_voices_help", lang))
        for voice in voices:
            left, right = st.columns([4, 1], vertical_alignment="center")
            left.markdown(f"🗣️ {plain(voice.name)}")
            right.button(
                "✕",
                key=f"forget_voice_{voice.name}",
                help=t("ui_known_voice_forget", lang),
                on_click=_forget_voice,
                args=(voice.name,),
            )
        with st.form("add_voice", clear_on_submit=True, border=False):
            name = st.text_input(t("ui_known_voice_name", lang), key="known_voice_name")
            clip = st.file_uploader(
                t("ui_known_voice_clip", lang), type=list(MEDIA_EXTENSIONS), key="known_voice_clip"
            )
            added = st.form_submit_button(t("ui_known_voice_add", lang))
        if added:
            _ask_to_add(name, clip, lang)
        if "voice_to_add" in state and speakers is not None:
            _add_voice(speakers, settings, lang)
        if voices:
            st.download_button(
                t("ui_voices_save", lang),
                data=partial(voices_file, list(voices)),
                file_name="known-voices.json",
                mime="application/json",
                key="voices_save",
                on_click="ignore",
            )
        loaded = st.file_uploader(t("ui_voices_load", lang), type=["json"], key="voices_load")
        if loaded is not None and state.get("voices_loaded") != loaded.file_id:
            state["voices_loaded"] = loaded.file_id
            try:
                state["known_voices"] = combined([*voices, *read_voices_file(loaded.getvalue())])
                st.rerun()
            except UserFacingError as exc:
                st.error(t(exc.code, lang, **exc.params))
        st.caption(t("ui_voices_file_note", lang))
    return tuple(state["known_voices"])


def _ask_to_add(name: str, clip: UploadedFile | None, lang: Lang) -> None:
    """The form's voice, checked (one sentence for what is wrong with it) and kept in the session until the
    speaker model can print it: a run that waits for the model can be cut short by a rerun, the request
    is not."""
    name = name.strip()
    clips: dict[str, str] = st.session_state.setdefault("known_voice_clips", {})  # a clip's digest -> name
    try:
        if name and clip is None:
            raise UserFacingError("known_voice_no_clip", name=name)
        data = clip.getvalue() if clip is not None else b""
        digest = clip_digest(io.BytesIO(data))
        check_clip(name, digest, clips)
    except UserFacingError as exc:
        st.error(t(exc.code, lang, **exc.params))
        return
    st.session_state["voice_to_add"] = (name, data, digest)


def _add_voice(speakers: BackgroundLoad[SpeakerFinder], settings: Settings, lang: Lang) -> None:
    """The voice asked for, printed once the speaker model is there (the page reruns when it is)."""
    state = st.session_state
    if not speakers.ready:
        st.caption(t("ui_known_voice_waiting", lang))
        _rerun_when_ready(speakers)
        return
    name, data, digest = state["voice_to_add"]
    try:
        with st.spinner(t("ui_known_voice_adding", lang)):
            voice = enroll_upload(name, io.BytesIO(data), speakers.get(), settings.ffmpeg, session_id())
    except UserFacingError as exc:
        del state["voice_to_add"]
        st.error(t(exc.code, lang, **exc.params))
        return
    del state["voice_to_add"]  # only now: a run stopped while printing leaves it to the next run
    state["known_voice_clips"][digest] = voice.name
    state["known_voices"] = combined([*state["known_voices"], voice])
    st.rerun()


@st.fragment(run_every=1.0)
def _rerun_when_ready(loader: BackgroundLoad[SpeakerFinder]) -> None:
    if loader.ready:
        st.rerun(scope="app")


def _forget_voice(name: str) -> None:
    state = st.session_state
    state["known_voices"] = [voice for voice in state.get("known_voices", []) if voice.name != name]
    clips = state.get("known_voice_clips", {})
    state["known_voice_clips"] = {digest: kept for digest, kept in clips.items() if kept != name}


def _auto(lang: str) -> Callable[[object], str]:
    return lambda name: t("ui_auto", lang) if name == AUTO else str(name)


def privacy_panel(lang: str, settings: Settings) -> None:
    check = self_check()
    server = settings.audio_destination
    destination = f"`{server}` (vLLM)" if server else t("ui_pc_audio_here", lang)
    with st.sidebar.expander(t("ui_privacy_check", lang), expanded=False):
        yes, no = t("ui_yes", lang), t("ui_no", lang)
        st.markdown(
            "\n".join(
                [
                    f"- {t('ui_pc_audio_to', lang)}: {destination}",
                    f"- {t('ui_pc_secured', lang)}: {yes if check.process_secured else no}",
                    f"- {t('ui_pc_address', lang)}: `{check.server_address}:{check.server_port}`",
                    f"- {t('ui_pc_usage_stats', lang)}: {yes if check.usage_stats else no}",
                    f"- {t('ui_pc_guard', lang)}: {yes if check.guard_locked else no}"
                    f" ({t('ui_pc_blocked', lang)} {check.blocked_count})",
                    f"- {t('ui_pc_temp_root', lang)}: `{check.temp_root}`",
                    f"- {t('ui_pc_job_folders', lang)}: {check.job_folders_now}",
                    f"- {t('ui_pc_cleanup_disabled', lang)}: {yes if check.cleanup_disabled else no}",
                ]
            )
        )
        job = check.last_job
        if job is not None:
            removed = (
                f"{job.removal_seconds:.3f} s" if job.removal_seconds is not None else t("ui_pc_kept", lang)
            )
            st.caption(f"{t('ui_pc_last_job', lang)}: {job.created_at:%H:%M:%S} → {removed}")


def model_problem(lang: str, error: UserFacingError, model_id: str, env: str) -> None:
    """The reason a model cannot be used, and, when it is missing, the two ways to provide it."""
    st.error(t(error.code, lang, **error.params))
    if error.code.endswith(("_missing", "_folder_invalid")):
        st.markdown(t("ui_model_fetch", lang))
        st.code(download_command(model_id), language="bash")
        st.markdown(t("ui_model_folder", lang, env=env))
        st.code(f"{env}=/path/to/{model_id.split('/')[-1]} python -m privacy", language="bash")


def copy_button(text: str, lang: str) -> None:
    """A real button that writes to the clipboard; Streamlit's component iframe allows clipboard-write."""
    st.iframe(copy_button_html(text, t("ui_copy", lang), t("ui_copied", lang)), height=48)


@dataclass(frozen=True)
class Models:
    """What the page's jobs run on: the speech backend, and the aligner and speaker model when asked for."""

    backend: BackgroundLoad[Backend]
    aligner: WordTimer | None = None
    speakers: BackgroundLoad[SpeakerFinder] | None = None


def run_one(
    upload: Upload, models: Models, settings: Settings, options: TranscribeOptions, lang: Lang
) -> Card:
    """Transcribe one upload with a live status; the workspace is gone when this returns or raises. The
    upload goes to the job as the stream it is (copied to the job folder in blocks): `getvalue()` would
    make the server hold a second whole copy of a file that can be a gigabyte."""
    name = upload.name
    started = time.perf_counter()
    with st.status(t("ui_status_title", lang, name=plain(name)), expanded=True) as status:
        progress = st.progress(0.0)
        partial = st.empty()
        try:
            if not models.backend.ready:
                status.update(label=t("ui_stage_loading", lang))
            backend = models.backend.get()
            speaker_model = None
            if options.identify_speakers and models.speakers is not None:
                if not models.speakers.ready:
                    status.update(label=t("ui_stage_loading_speakers", lang))
                speaker_model = models.speakers.get()
        except UserFacingError as exc:
            status.update(label=t(exc.code, lang, **exc.params), state="error")
            failed = Failed(Notice(exc.code, dict(exc.params)), (), _NO_FOLDER)
            return Card(name, upload.file.file_id, failed, time.perf_counter() - started)

        heard: dict[float, str] = {}  # the text so far by start time: each step brings only its new segments

        def on_event(event: JobEvent) -> None:
            status.update(label=t(f"ui_stage_{event.stage}", lang))
            step = event.progress
            if step is None:
                return
            progress.progress(step.done_chunks / (step.total_chunks or 1), text=_eta(step, lang))
            heard.update((s.start, s.text) for s in step.added)
            partial.caption(plain(" ".join(heard[start] for start in sorted(heard))[-400:]))

        outcome = run_job(
            upload.file,
            backend,
            settings,
            options,
            names=(name,),
            on_event=on_event,
            session_id=session_id(),
            aligner=models.aligner,
            speaker_model=speaker_model,
            playback=True,
        )
        card = Card(name, upload.file.file_id, outcome, time.perf_counter() - started)
        if isinstance(outcome, Failed):
            status.update(label=t(outcome.reason.code, lang, **outcome.reason.params), state="error")
        else:
            status.update(label=t("ui_done", lang, seconds=card.seconds), state="complete", expanded=False)
    return card


_NO_FOLDER = Cleanup(removal_seconds=None, kept_wav=None, failed=False)


def _eta(step: Progress, lang: Lang) -> str:
    eta = step.eta_s
    text = t("ui_progress", lang, done=step.done_chunks, total=step.total_chunks, elapsed=step.elapsed_s)
    return text if eta is None else text + " · " + t("ui_eta", lang, eta=eta)


def _notices(notices: tuple[Notice, ...], lang: Lang) -> None:
    for notice in notices:
        st.warning(t(notice.code, lang, **notice.params))


@st.fragment
def show_card(card: Card, uploaded: bool, lang: Lang, threshold: float) -> None:
    """One file's card. A fragment: typing in its Find box, editing its table or renaming its speakers
    redraws this card only, not the page and every other card's review list. `uploaded`: whether the file
    it came from is still in the uploader, which "transcribe anyway" needs."""
    outcome = card.outcome
    with st.container(border=True, key=f"card_{card.id}"):
        st.markdown(f"**{plain(card.name)}**")
        if not isinstance(outcome, Cancelled) and outcome.cleanup.kept_wav:
            st.caption(t("ui_kept_path", lang, path=outcome.cleanup.kept_wav))
        if isinstance(outcome, Cancelled):
            st.info(t("ui_cancelled", lang))
        elif isinstance(outcome, Failed):
            _notices(outcome.notices, lang)
            st.error(t(outcome.reason.code, lang, **outcome.reason.params))
            if outcome.language_refused:
                override_controls(card, uploaded, lang)
        else:
            _notices(outcome.notices, lang)
            show_transcript(card, outcome, lang, threshold)


def speaker_names(card: Card, transcript: Transcript, lang: Lang) -> dict[int, str]:
    """A name box per speaker ("Speaker 1" -> "主持人"); the names live in this session only."""
    if not transcript.speakers:
        return {}
    st.caption(t("ui_speaker_names", lang))
    names = {}
    for column, speaker in zip(st.columns(len(transcript.speakers)), transcript.speakers, strict=True):
        default = t("ui_speaker_default", lang, label=speaker.label)
        typed = column.text_input(
            default,
            value=speaker.name or default,
            key=f"spk_{card.id}_{speaker.label}",
            label_visibility="collapsed",
        )
        names[speaker.label] = typed.strip() or speaker.name or default
        if speaker.voice is not None:
            column.button(
                t("ui_remember_voice", lang),
                key=f"remember_{card.id}_{speaker.label}",
                help=t("ui_remember_voice_help", lang),
                disabled=names[speaker.label] == default,
                on_click=_remember_voice,
                args=(KnownVoice(names[speaker.label], speaker.voice, speaker.seconds),),
            )
    return names


def _remember_voice(voice: KnownVoice) -> None:
    """A found speaker's voice (its speech in this recording) joins the known voices under its name."""
    state = st.session_state
    state["known_voices"] = combined([*state.get("known_voices", []), voice])


def show_player(card: Card, lang: Lang) -> str:
    """The card's player, fed from session memory by the app's own media endpoint; returns its key."""
    key = f"player_{card.id}"
    playback = card.outcome.playback if isinstance(card.outcome, Transcribed) else None
    with st.container(key=key):
        if playback is None:
            st.caption(t("ui_no_player", lang))
        else:
            st.audio(playback.data, format=playback.mime)
    return key


def show_find(card: Card, transcript: Transcript, names: dict[int, str], player: str, lang: Lang) -> None:
    query = st.text_input(
        t("ui_find", lang), key=f"find_{card.id}", placeholder=t("ui_find_placeholder", lang)
    ).strip()
    if not query:
        return
    matches = find_segments(transcript, query)
    if not matches:
        st.caption(t("ui_not_found", lang, query=plain(query)))
        return
    st.caption(t("ui_found", lang, count=len(matches), query=plain(query)))
    st.html(found_html(matches, names, player))


def edit_segments(card: Card, transcript: Transcript, names: dict[int, str], lang: Lang) -> Transcript:
    """The segments as an editable table (text, and the speaker when identified); returns the corrected
    transcript. The edits live in this session's widget state only; "reset" starts a fresh table."""
    version_key = f"edit_version_{card.id}"
    version = st.session_state.get(version_key, 0)
    order = [i for i, s in enumerate(transcript.segments) if s.text.strip()]
    if not order:
        return transcript
    segments = [transcript.segments[i] for i in order]
    columns: dict[str, list[object]] = {
        "time": [clock(s.start) for s in segments],
        "text": [s.text for s in segments],
    }
    config: dict[str, Any] = {
        "time": st.column_config.TextColumn(t("ui_col_time", lang), disabled=True, width="small"),
        "text": st.column_config.TextColumn(t("ui_col_text", lang), width="large"),
    }
    if transcript.speakers:
        columns = {"time": columns["time"], "speaker": [s.speaker for s in segments], "text": columns["text"]}
        config["speaker"] = st.column_config.SelectboxColumn(
            t("ui_col_speaker", lang),
            options=[s.label for s in transcript.speakers],
            format_func=lambda label: names.get(int(label), str(label)),
            width="small",
            required=True,
        )
    edited = st.data_editor(
        pd.DataFrame(columns),
        column_config=config,
        hide_index=True,
        num_rows="fixed",
        key=f"edits_{card.id}_{version}",
        width="stretch",
    )
    texts = {i: str(text) for i, text in zip(order, edited["text"], strict=True)}
    speakers = (
        {i: int(label) for i, label in zip(order, edited["speaker"], strict=True)}
        if transcript.speakers
        else {}
    )
    corrected = apply_edits(transcript, texts, speakers)
    changed = sum(1 for a, b in zip(transcript.segments, corrected.segments, strict=True) if a != b)
    if changed:
        left, right = st.columns([3, 2])
        left.caption(t("ui_edits_count", lang, count=changed))
        right.button(
            t("ui_reset_edits", lang), key=f"reset_{card.id}", on_click=_new_table, args=(version_key,)
        )
    return corrected


def _new_table(version_key: str) -> None:
    st.session_state[version_key] = st.session_state.get(version_key, 0) + 1


def show_transcript(card: Card, outcome: Transcribed, lang: Lang, threshold: float) -> None:
    transcript = outcome.transcript
    if transcript.forced_language:
        st.markdown(f"**{plain(t('ui_forced', lang, name=transcript.forced_language))}**")
    else:
        seconds = t("ui_langid_time", lang, seconds=transcript.verdict.seconds)
        st.markdown(f"**{plain(verdict_label(transcript.verdict, lang))}** :gray[· {plain(seconds)}]")
    names = speaker_names(card, transcript, lang)
    player = show_player(card, lang)
    find_box = st.container()
    segments_tab, edit_tab = st.tabs([t("ui_tab_segments", lang), t("ui_tab_edit", lang)])
    with edit_tab:
        transcript = edit_segments(card, transcript, names, lang)
    with find_box:
        show_find(card, transcript, names, player, lang)
    with segments_tab:
        segments = review_segments(transcript)
        low = sum(
            1 for s in segments for w in s.words if w.probability is not None and w.probability < threshold
        )
        if low:
            st.caption(t("ui_low_marked", lang, count=low))
        st.html(review_html(segments, names, threshold, player, lang))
    text = export(transcript, "txt", names).rstrip("\n")
    # the names and edits are part of the key: a renamed speaker or a correction redraws the box
    key = f"text_{card.id}_{abs(hash((tuple(sorted(names.items())), text)))}"
    st.text_area(t("ui_transcript", lang), text, height=200, key=key)
    copy_button(text, lang)
    formats = [fmt for fmt in FORMAT_NAMES if fmt != "rttm" or transcript.turns]
    for column, fmt in zip(st.columns(len(formats)), formats, strict=True):
        info = FORMATS[fmt]
        column.download_button(
            t("ui_download", lang, ext=info.extension),
            data=partial(export_file, transcript, fmt, names, card.name),
            file_name=f"transcript.{info.extension}",
            mime=info.mime,
            key=f"dl_{fmt}_{card.id}",
            on_click="ignore",
        )


def override_controls(card: Card, uploaded: bool, lang: Lang) -> None:
    """A language to use anyway and the button that reruns the card's own file with it (the whole page
    reruns: the job draws its progress above the cards). Once that file has left the uploader the card
    says so instead: no other file is ever transcribed into it."""
    if card.file_id.startswith(LIVE):
        st.info(t("ui_live_refused_hint", lang))
        return
    if not uploaded:
        st.warning(t("ui_upload_removed", lang))
        return
    choice = st.selectbox(
        t("ui_override_language", lang), [AUTO, *ALL_LANGUAGES], format_func=_auto(lang), key=f"ovl_{card.id}"
    )
    if st.button(t("ui_transcribe_anyway", lang), key=f"ov_{card.id}"):
        st.session_state["override"] = (card.id, choice)
        st.rerun()


def transcribe_anyway(
    card_id: str,
    uploads: list[Upload],
    models: Models,
    settings: Settings,
    options: TranscribeOptions,
    lang: Lang,
) -> None:
    """Rerun a refused card's own file, found by its upload's identity, and put the outcome in that card;
    if the file has left the uploader nothing runs (the card says so), whatever else was added or removed."""
    state = st.session_state
    cards: list[Card] = state.get("cards", [])
    at = next((i for i, card in enumerate(cards) if card.id == card_id), None)
    if at is None:
        return
    upload = next((u for u in uploads if u.file.file_id == cards[at].file_id), None)
    if upload is None:
        return
    state["jobs_running"] = True
    cards[at] = run_one(upload, models, settings, options, lang)
    state["jobs_running"] = False


def live_section(models: Models, settings: Settings, options: TranscribeOptions, lang: Lang) -> None:
    """Live mode: Start begins a recording that the page's microphone script feeds; while it runs, its text
    redraws on its own every second; Stop turns it into a card like an upload's."""
    st.subheader(t("ui_live", lang), help=t("ui_live_help", lang))
    state = st.session_state
    job: LiveJob | None = state.get("live_job")
    if job is not None:
        st.html(capture_html(job.token, lang), unsafe_allow_javascript=True)
        live_panel(lang)
        return
    if not st.button(t("ui_live_start", lang), key="live_start"):
        return
    try:
        with st.spinner(t("ui_stage_loading", lang)):
            backend = models.backend.get()
        speaker_model = None
        if options.identify_speakers and models.speakers is not None:
            speaker_model = models.speakers.get()
    except UserFacingError as exc:
        st.error(t(exc.code, lang, **exc.params))
        return
    job_models = JobModels(backend, models.aligner, speaker_model)
    state["live_job"] = LiveJob(job_models, settings, options, session_id=session_id(), playback=True)
    state["live_started"] = time.strftime("%H:%M")
    st.rerun()


@st.fragment(run_every=1.0)
def live_panel(lang: Lang) -> None:
    state = st.session_state
    job: LiveJob | None = state.get("live_job")
    if job is None:
        return
    view = job.view()
    if view.outcome is not None:
        del state["live_job"]
        name = t("ui_live_name", lang, time=state.pop("live_started", ""))
        card = Card(name, LIVE + job.token, view.outcome, view.heard_s)
        state["cards"] = [card, *state.get("cards", [])]
        st.rerun(scope="app")
    if view.listening:
        st.button(t("ui_live_stop", lang), key="live_stop", on_click=job.stop, type="primary")
        st.caption(t("ui_live_heard", lang, time=clock(view.heard_s)))
    else:
        st.caption(t("ui_live_finishing", lang))
    if view.behind:
        st.warning(t("ui_live_behind", lang, seconds=view.lag_s))
    st.html(live_text_html(view, lang))


def _request_cancel() -> None:
    st.session_state["cancel_requested"] = True


def main() -> None:
    st.set_page_config(page_title="Qwen3-ASR", page_icon="🎙️", layout="centered")
    share_upload_bytes()
    lang = ui_language()
    settings = settings_or_error()
    if isinstance(settings, SettingsError):
        st.title(t("ui_title", lang))
        st.error(settings_error(settings, lang))
        return
    options, known_slot = sidebar_options(lang)
    threshold = st.sidebar.slider(
        t("ui_low_confidence", lang),
        0.0,
        1.0,
        value=settings.low_confidence,
        step=0.05,
        help=t("ui_low_confidence_help", lang),
        key="low_confidence",
    )
    loader = SHARED_MODELS.backend(settings)  # one model per process, shared with the API (`api`)
    speakers = SHARED_MODELS.speakers() if options.identify_speakers else None
    privacy_panel(lang, settings)

    st.title(t("ui_title", lang))
    server = settings.audio_destination
    st.caption(t("ui_subtitle_server", lang, server=server) if server else t("ui_subtitle", lang))
    if loader.ready:
        try:
            loader.get()
        except UserFacingError as exc:
            model_problem(lang, exc, DEFAULT_MODEL_ID, MODEL_ENV)
            if server and st.button(t("ui_retry_server", lang)):
                SHARED_MODELS.retry_backend(settings)  # a server that was down may be up now: ask it again
                st.rerun()
            return
    aligner = None
    if options.word_timestamps:
        try:
            with st.spinner(t("ui_stage_loading", lang)):
                aligner = SHARED_MODELS.aligner(settings).get()
        except UserFacingError as exc:
            model_problem(lang, exc, DEFAULT_ALIGNER_ID, ALIGNER_ENV)
    if speakers is not None and not speakers.ready:
        st.info(t("ui_speakers_loading", lang))
    elif speakers is not None:
        try:
            speakers.get()
        except UserFacingError as exc:
            st.error(t(exc.code, lang, **exc.params))
            speakers = None
            options = replace(options, identify_speakers=False)
    if options.identify_speakers:
        known = known_voices_panel(known_slot, lang, speakers, settings)
        options = replace(options, known_voices=known)
    models = Models(loader, aligner, speakers)

    # Keyed widgets keep their value when their label changes: switching the interface language must not
    # drop the user's uploads, recording or settings.
    files = st.file_uploader(
        t("ui_upload", lang), type=list(MEDIA_EXTENSIONS), accept_multiple_files=True, key="uploads"
    )
    recording = st.audio_input(t("ui_record", lang), key="recording")
    live_section(models, settings, options, lang)
    uploads = [Upload(f.name, f) for f in files or []]
    if recording is not None:
        uploads.append(Upload(t("ui_recording_name", lang), recording))

    state = st.session_state
    # `jobs_running` is set before a run's jobs and cleared when they are all done; `run_job` returns every
    # error as an outcome, so it is still set on the next run only if Streamlit stopped that run: the user
    # pressed Cancel (its callback says so), or changed a setting (which reruns the page), or left.
    stopped = state.pop("jobs_running", False)
    if state.pop("cancel_requested", False):
        st.info(t("ui_cancelled", lang))
    elif stopped:
        st.info(t("ui_interrupted", lang))

    override = state.pop("override", None)
    if override is not None:
        card_id, choice = override
        anyway = options.anyway(None if choice == AUTO else choice)
        transcribe_anyway(card_id, uploads, models, settings, anyway, lang)

    clicked = st.button(t("ui_transcribe", lang), type="primary", disabled=not uploads)
    if clicked:
        st.button(t("ui_cancel", lang), on_click=_request_cancel)
        state["cards"] = []
        state["jobs_running"] = True
        for upload in uploads:
            state["cards"].append(run_one(upload, models, settings, options, lang))
        state["jobs_running"] = False
        st.rerun()

    cards: list[Card] = state.get("cards", [])
    if cards:
        st.html(REVIEW_SCRIPT, unsafe_allow_javascript=True)
    present = {upload.file.file_id for upload in uploads}
    for card in cards:
        show_card(card, card.file_id in present, lang, threshold)


if __name__ == "__main__":  # each browser session's run of the page
    main()
else:  # imported as the server's ASGI module, by `streamlit run app.py` and by `python -m privacy` alike
    secure_process()
    app = st.App(__file__, routes=[live_route(), *api_routes(api_service)], middleware=host_check())

"""Streamlit view over the `asr` library: upload or record -> job -> result (copy, download).

No model code and no pipeline policy live here: the page draws widgets, hands bytes to `asr.job.run_job` and
draws the outcome it gets back. Transcripts stay in `st.session_state` (this browser session's memory), never
on disk. The last lines make this file the server's ASGI module too (`st.App`), so the process is secured
before the first request whether it was started with `python -m privacy` or `streamlit run app.py`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import streamlit as st

from asr.background import BackgroundLoad, load_backend, load_speaker_model
from asr.errors import UserFacingError
from asr.export import FORMAT_NAMES, FORMATS, export, speaker_turns
from asr.i18n import Lang, settings_error, t, verdict_label
from asr.job import Cancelled, Cleanup, Failed, JobEvent, JobOutcome, Notice, Transcribed, run_job
from asr.langid import ALL_LANGUAGES, DEFAULT_ACCEPTED
from asr.model_source import ALIGNER_ENV, DEFAULT_ALIGNER_ID, DEFAULT_MODEL_ID, MODEL_ENV, download_command
from asr.settings import Settings, SettingsError, load_settings
from asr.transcribe import MAX_SPEAKERS, Progress, TranscribeOptions
from asr.transcript import Transcript
from cleanup import release_session
from privacy.process import secure_process
from privacy.selfcheck import self_check
from privacy.server_patches import host_check

if TYPE_CHECKING:  # torch: imported by the loader thread, never by the page's first run
    from asr.align import Aligner
    from asr.backend import Backend
    from asr.diarize import SpeakerModel

UPLOAD_TYPES = ["mp3", "m4a", "aac", "wav", "flac", "ogg", "oga", "opus", "webm", "wma", "mp4", "mov", "mkv"]
AUTO = "auto"


@dataclass(frozen=True)
class Card:
    """One file's outcome, kept in session memory for the page to draw."""

    name: str
    outcome: JobOutcome
    seconds: float


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


@st.cache_resource(show_spinner=False)
def backend_loader(settings: Settings) -> BackgroundLoad:
    """One model per process, loaded in the background so the page is usable at once."""
    return BackgroundLoad(lambda: load_backend(settings))


def ui_language() -> Lang:
    locale = (st.context.locale or "").lower()
    default = 0 if locale.startswith("zh") else 1
    choice = st.sidebar.radio("界面语言 / Language", ["中文", "English"], index=default, horizontal=True)
    return "zh" if choice == "中文" else "en"


def sidebar_options(lang: str) -> TranscribeOptions:
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
    return TranscribeOptions(
        language=None if forced == AUTO else forced,
        context=context.strip() or None,
        accepted=frozenset(accepted) or DEFAULT_ACCEPTED,
        word_timestamps=words,
        identify_speakers=speakers,
        speakers=None if count == AUTO else int(count),
    )


def _auto(lang: str) -> Callable[[object], str]:
    return lambda name: t("ui_auto", lang) if name == AUTO else str(name)


def privacy_panel(lang: str) -> None:
    check = self_check()
    with st.sidebar.expander(t("ui_privacy_check", lang), expanded=False):
        yes, no = t("ui_yes", lang), t("ui_no", lang)
        st.markdown(
            "\n".join(
                [
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


@st.cache_resource(show_spinner=False)
def speaker_loader() -> BackgroundLoad[SpeakerModel]:
    """Started the first time a user asks for speakers, then kept for the process."""
    return BackgroundLoad(load_speaker_model, name="speaker-model-load")


@st.cache_resource(show_spinner=False)
def load_aligner(settings: Settings) -> Aligner:
    """Loaded only when a user asks for word timestamps, then kept for the process."""
    from asr.align import Aligner
    from asr.loading import plan_device

    return Aligner.load(settings.aligner_model, plan_device(settings.dtype))


def model_problem(lang: str, error: UserFacingError, model_id: str, env: str) -> None:
    """The reason a model cannot be used, and, when it is missing, the two ways to provide it."""
    st.error(t(error.code, lang))
    if error.code.endswith(("_missing", "_folder_invalid")):
        st.markdown(t("ui_model_fetch", lang))
        st.code(download_command(model_id), language="bash")
        st.markdown(t("ui_model_folder", lang, env=env))
        st.code(f"{env}=/path/to/{model_id.split('/')[-1]} python -m privacy", language="bash")


def copy_button(text: str, lang: str) -> None:
    """A real button that writes to the clipboard; Streamlit's component iframe allows clipboard-write."""
    payload, label, done = (_js_string(s) for s in (text, t("ui_copy", lang), t("ui_copied", lang)))
    st.iframe(
        f"""<button id="copy" style="font:14px sans-serif;padding:6px 14px;border-radius:8px;
        border:1px solid #ccc;background:#fff;cursor:pointer"></button>
        <script>
        const text = {payload};
        const button = document.getElementById("copy");
        button.textContent = {label};
        button.addEventListener("click", async () => {{
          try {{ await navigator.clipboard.writeText(text); }}
          catch (e) {{
            const area = document.createElement("textarea");
            area.value = text; document.body.appendChild(area);
            area.select(); document.execCommand("copy"); area.remove();
          }}
          button.textContent = {done}; setTimeout(() => button.textContent = {label}, 1500);
        }});
        </script>""",
        height=48,
    )


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """Text shown through Markdown as itself: a file name like `![](http://host/x.png).mp3` must not make
    the browser fetch anything, and `:icon:` codes must not pull fonts from the network."""
    return _MARKDOWN.sub(r"\\\1", text)


def _js_string(text: str) -> str:
    """A JavaScript string literal that no transcript can break out of (no raw `<`, quotes escaped)."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e")


@dataclass(frozen=True)
class Models:
    """What the page's jobs run on: the speech backend, and the aligner and speaker model when asked for."""

    backend: BackgroundLoad[Backend]
    aligner: Aligner | None = None
    speakers: BackgroundLoad[SpeakerModel] | None = None


def run_one(
    name: str, data: bytes, models: Models, settings: Settings, options: TranscribeOptions, lang: Lang
) -> Card:
    """Transcribe one upload with a live status; the workspace is gone when this returns or raises."""
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
            status.update(label=t(exc.code, lang), state="error")
            return Card(name, Failed(Notice(exc.code), (), _NO_FOLDER), time.perf_counter() - started)

        def on_event(event: JobEvent) -> None:
            status.update(label=t(f"ui_stage_{event.stage}", lang))
            step = event.progress
            if step is None:
                return
            progress.progress(step.done_chunks / step.total_chunks, text=_eta(step, lang))
            partial.caption(plain(" ".join(s.text for s in step.segments)[-400:]))

        outcome = run_job(
            data,
            backend,
            settings,
            options,
            names=(name,),
            on_event=on_event,
            session_id=session_id(),
            aligner=models.aligner,
            speaker_model=speaker_model,
        )
        card = Card(name, outcome, time.perf_counter() - started)
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


def show_card(index: int, card: Card, lang: Lang) -> None:
    outcome = card.outcome
    with st.container(border=True):
        st.markdown(f"**{plain(card.name)}**")
        if not isinstance(outcome, Cancelled) and outcome.cleanup.kept_wav:
            st.caption(t("ui_kept_path", lang, path=outcome.cleanup.kept_wav))
        if isinstance(outcome, Cancelled):
            st.info(t("ui_cancelled", lang))
        elif isinstance(outcome, Failed):
            _notices(outcome.notices, lang)
            st.error(t(outcome.reason.code, lang, **outcome.reason.params))
            if outcome.language_refused:
                override_controls(index, lang)
        else:
            _notices(outcome.notices, lang)
            show_transcript(index, outcome, lang)


def speaker_names(index: int, transcript: Transcript, lang: Lang) -> dict[int, str]:
    """A name box per speaker ("Speaker 1" -> "主持人"); the names live in this session only."""
    if not transcript.speakers:
        return {}
    st.caption(t("ui_speaker_names", lang))
    names = {}
    for column, speaker in zip(st.columns(len(transcript.speakers)), transcript.speakers, strict=True):
        default = t("ui_speaker_default", lang, label=speaker.label)
        typed = column.text_input(
            default, value=default, key=f"spk_{index}_{speaker.label}", label_visibility="collapsed"
        )
        names[speaker.label] = typed.strip() or default
    return names


def show_turns(transcript: Transcript, names: dict[int, str]) -> None:
    """The transcript as speaker turns: who, when, what."""
    lines = []
    for speaker, start, text in speaker_turns(transcript):
        who = names.get(speaker, "?") if speaker is not None else "?"
        minutes, seconds = divmod(int(start), 60)
        lines.append(f"**{plain(who)}** :gray[{minutes:02d}:{seconds:02d}]  \n{plain(text)}")
    st.markdown("\n\n".join(lines))


def show_transcript(index: int, outcome: Transcribed, lang: Lang) -> None:
    transcript = outcome.transcript
    if transcript.forced_language:
        st.markdown(f"**{plain(t('ui_forced', lang, name=transcript.forced_language))}**")
    else:
        seconds = t("ui_langid_time", lang, seconds=transcript.verdict.seconds)
        st.markdown(f"**{plain(verdict_label(transcript.verdict, lang))}** :gray[· {plain(seconds)}]")
    names = speaker_names(index, transcript, lang)
    if names:
        show_turns(transcript, names)
    text = export(transcript, "txt", names).rstrip("\n")
    # the names are part of the key: a renamed speaker redraws the box with the new text
    key = f"text_{index}_{abs(hash(tuple(sorted(names.items()))))}"
    st.text_area(t("ui_transcript", lang), text, height=200, key=key)
    copy_button(text, lang)
    for column, fmt in zip(st.columns(len(FORMAT_NAMES)), FORMAT_NAMES, strict=True):
        info = FORMATS[fmt]
        column.download_button(
            t("ui_download", lang, ext=info.extension),
            data=export(transcript, fmt, names).encode("utf-8"),
            file_name=f"transcript.{info.extension}",
            mime=info.mime,
            key=f"dl_{fmt}_{index}",
        )


def override_controls(index: int, lang: str) -> None:
    choice = st.selectbox(
        t("ui_override_language", lang), [AUTO, *ALL_LANGUAGES], format_func=_auto(lang), key=f"ovl_{index}"
    )
    if st.button(t("ui_transcribe_anyway", lang), key=f"ov_{index}"):
        st.session_state["override"] = (index, choice)
        st.rerun()


def _request_cancel() -> None:
    st.session_state["cancel_requested"] = True


def main() -> None:
    st.set_page_config(page_title="Qwen3-ASR", page_icon="🎙️", layout="centered")
    lang = ui_language()
    settings = settings_or_error()
    if isinstance(settings, SettingsError):
        st.title(t("ui_title", lang))
        st.error(settings_error(settings, lang))
        return
    options = sidebar_options(lang)
    loader = backend_loader(settings)
    speakers = speaker_loader() if options.identify_speakers else None
    privacy_panel(lang)

    st.title(t("ui_title", lang))
    st.caption(t("ui_subtitle", lang))
    if loader.ready:
        try:
            loader.get()
        except UserFacingError as exc:
            model_problem(lang, exc, DEFAULT_MODEL_ID, MODEL_ENV)
            return
    aligner = None
    if options.word_timestamps:
        try:
            with st.spinner(t("ui_stage_loading", lang)):
                aligner = load_aligner(settings)
        except UserFacingError as exc:
            model_problem(lang, exc, DEFAULT_ALIGNER_ID, ALIGNER_ENV)
    if speakers is not None and not speakers.ready:
        st.info(t("ui_speakers_loading", lang))
    elif speakers is not None:
        try:
            speakers.get()
        except UserFacingError as exc:
            st.error(t(exc.code, lang))
            speakers = None
            options = replace(options, identify_speakers=False)
    models = Models(loader, aligner, speakers)

    # Keyed widgets keep their value when their label changes: switching the interface language must not
    # drop the user's uploads, recording or settings.
    files = st.file_uploader(
        t("ui_upload", lang), type=UPLOAD_TYPES, accept_multiple_files=True, key="uploads"
    )
    recording = st.audio_input(t("ui_record", lang), key="recording")
    sources = [(f.name, f) for f in files or []]
    if recording is not None:
        sources.append((t("ui_recording_name", lang), recording))

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
    if override is not None and override[0] < len(sources):
        index, choice = override
        name, upload = sources[index]
        anyway = options.anyway(None if choice == AUTO else choice)
        state["jobs_running"] = True
        state["cards"][index] = run_one(name, upload.getvalue(), models, settings, anyway, lang)
        state["jobs_running"] = False

    clicked = st.button(t("ui_transcribe", lang), type="primary", disabled=not sources)
    if clicked:
        st.button(t("ui_cancel", lang), on_click=_request_cancel)
        state["cards"] = []
        state["jobs_running"] = True
        for name, upload in sources:
            state["cards"].append(run_one(name, upload.getvalue(), models, settings, options, lang))
        state["jobs_running"] = False
        st.rerun()

    for index, card in enumerate(state.get("cards", [])):
        show_card(index, card, lang)


if __name__ == "__main__":  # each browser session's run of the page
    main()
else:  # imported as the server's ASGI module, by `streamlit run app.py` and by `python -m privacy` alike
    secure_process()
    app = st.App(__file__, middleware=host_check())

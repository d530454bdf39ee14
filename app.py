"""Streamlit view over the `asr` library: upload or record -> job -> result (copy, download).

No model code lives here: the page draws widgets, hands bytes to `asr.job.run_job` and renders the result it
gets back. Transcripts stay in `st.session_state` (this browser session's memory), never on disk.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import streamlit as st

from asr.background import EngineLoader
from asr.errors import UserFacingError
from asr.export import FORMAT_NAMES, FORMATS, export
from asr.i18n import t
from asr.job import JobEvent, run_job
from asr.langid import ALL_LANGUAGES, DEFAULT_ACCEPTED
from asr.model_source import (
    ALIGNER_ENV,
    DEFAULT_ALIGNER_ID,
    DEFAULT_MODEL_ID,
    MODEL_ENV,
    configured_aligner,
    configured_model,
    download_command,
)
from asr.transcribe import TranscribeOptions
from asr.transcript import Transcript
from cleanup import release_session
from privacy import guard
from privacy.logs import register_sensitive, sensitive, unregister_sensitive
from privacy.selfcheck import self_check

if TYPE_CHECKING:  # torch: imported by the loader thread, never by the page's first run
    from asr.align import Aligner

UPLOAD_TYPES = ["mp3", "m4a", "aac", "wav", "flac", "ogg", "oga", "opus", "webm", "wma", "mp4", "mov", "mkv"]
AUTO = "auto"


@dataclass
class CardResult:
    """One file's outcome, kept in session memory for the page to draw."""

    name: str
    error_code: str | None = None
    error_params: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    kept_wav: str | None = None
    transcript: Transcript | None = None
    removal_seconds: float | None = None
    seconds: float = 0.0


@st.cache_resource(scope="session", on_release=release_session, show_spinner=False)
def session_id() -> str:
    """Ties job folders to this browser session; when it ends, leftovers of failed removals go too."""
    return uuid.uuid4().hex


@st.cache_resource(show_spinner=False)
def engine_loader(model: str) -> EngineLoader:
    """One model per process, loaded in the background so the page is usable at once."""
    return EngineLoader(model)


def ui_language() -> str:
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
    )
    forced = st.sidebar.selectbox(
        t("ui_force_language", lang), [AUTO, *ALL_LANGUAGES], format_func=_auto(lang)
    )
    context = st.sidebar.text_area(t("ui_context", lang), help=t("ui_context_help", lang), height=80)
    words = st.sidebar.checkbox(t("ui_word_timestamps", lang), help=t("ui_word_timestamps_help", lang))
    return TranscribeOptions(
        language=None if forced == AUTO else forced,
        context=context.strip() or None,
        accepted=frozenset(accepted) or DEFAULT_ACCEPTED,
        word_timestamps=words,
    )


def _auto(lang: str):
    return lambda name: t("ui_auto", lang) if name == AUTO else name


def privacy_panel(lang: str) -> None:
    check = self_check()
    with st.sidebar.expander(t("ui_privacy_check", lang), expanded=False):
        yes, no = t("ui_yes", lang), t("ui_no", lang)
        st.markdown(
            "\n".join(
                [
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
def load_aligner(model: str) -> Aligner:
    """Loaded only when a user asks for word timestamps, then kept for the process."""
    from asr.align import Aligner

    return Aligner.load(model)


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


def run_one(
    name: str,
    data: bytes,
    loader: EngineLoader,
    aligner: Aligner | None,
    options: TranscribeOptions,
    lang: str,
) -> CardResult:
    """Transcribe one upload with a live status; the workspace is gone when this returns or raises."""
    started = time.perf_counter()
    card = CardResult(name=name)
    with st.status(t("ui_status_title", lang, name=plain(name)), expanded=True) as status:
        progress = st.progress(0.0)
        partial = st.empty()
        try:
            if not loader.ready:
                status.update(label=t("ui_stage_loading", lang))
            engine = loader.get()
            guard.lock_down()
        except UserFacingError as exc:
            status.update(label=t(exc.code, lang), state="error")
            card.error_code = exc.code
            return card

        said: list[str] = []  # transcript pieces, redacted from every log line while the job runs

        def on_event(event: JobEvent) -> None:
            status.update(label=t(f"ui_stage_{event.stage}", lang))
            step = event.progress
            if step is None:
                return
            fresh = [s.text for s in step.segments[len(said) :]]
            register_sensitive(*fresh)
            said.extend(fresh)
            progress.progress(step.done_chunks / step.total_chunks, text=_eta(step, lang))
            partial.caption(plain(" ".join(said)[-400:]))

        try:
            with sensitive(name):
                result = run_job(
                    data, engine, options, on_event=on_event, session_id=session_id(), aligner=aligner
                )
        finally:
            unregister_sensitive(*said)
        card.removal_seconds = result.workspace.removal_seconds
        card.kept_wav = str(result.kept_wav) if result.kept_wav else None
        card.warnings = result.warnings
        card.seconds = time.perf_counter() - started
        if result.error is not None:
            card.error_code = result.error.code
            card.error_params = dict(result.error.params)
            status.update(label=t(result.error.code, lang, **card.error_params), state="error")
            return card
        card.transcript = result.transcript
        status.update(label=t("ui_done", lang, seconds=card.seconds), state="complete", expanded=False)
    return card


def _eta(step, lang: str) -> str:
    eta = step.eta_s
    text = t("ui_progress", lang, done=step.done_chunks, total=step.total_chunks, elapsed=step.elapsed_s)
    return text if eta is None else text + " · " + t("ui_eta", lang, eta=eta)


def show_card(index: int, card: CardResult, lang: str) -> None:
    with st.container(border=True):
        st.markdown(f"**{plain(card.name)}**")
        if card.kept_wav:
            st.caption(t("ui_kept_path", lang, path=card.kept_wav))
        for key in card.warnings:
            st.warning(t(key, lang))
        if card.error_code:
            st.error(t(card.error_code, lang, **card.error_params))
            if card.error_code.startswith("language_refused"):
                override_controls(index, lang)
            return
        transcript = card.transcript
        if transcript.forced_language:
            st.markdown(f"**{plain(t('ui_forced', lang, name=transcript.forced_language))}**")
        else:
            seconds = t("ui_langid_time", lang, seconds=transcript.verdict.seconds)
            st.markdown(f"**{plain(transcript.verdict.label(lang))}** :gray[· {plain(seconds)}]")
        st.text_area(t("ui_transcript", lang), transcript.text, height=200, key=f"text_{index}")
        copy_button(transcript.text, lang)
        for column, fmt in zip(st.columns(len(FORMAT_NAMES)), FORMAT_NAMES, strict=True):
            info = FORMATS[fmt]
            column.download_button(
                t("ui_download", lang, ext=info.extension),
                data=export(card.transcript, fmt).encode("utf-8"),
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


def main() -> None:
    st.set_page_config(page_title="Qwen3-ASR", page_icon="🎙️", layout="centered")
    lang = ui_language()
    options = sidebar_options(lang)
    loader = engine_loader(configured_model())
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
                aligner = load_aligner(configured_aligner())
        except UserFacingError as exc:
            model_problem(lang, exc, DEFAULT_ALIGNER_ID, ALIGNER_ENV)

    files = st.file_uploader(t("ui_upload", lang), type=UPLOAD_TYPES, accept_multiple_files=True)
    recording = st.audio_input(t("ui_record", lang))
    sources = [(f.name, f) for f in files or []]
    if recording is not None:
        sources.append((t("ui_recording_name", lang), recording))

    state = st.session_state
    if state.get("running"):
        st.info(t("ui_cancelled", lang))
        state["running"] = False

    override = state.pop("override", None)
    if override is not None and override[0] < len(sources):
        index, choice = override
        name, upload = sources[index]
        forced = None if choice == AUTO else choice
        accepted = frozenset(ALL_LANGUAGES) if forced is None else frozenset({forced})
        rerun = replace(options, language=forced, accepted=accepted, check_language=False)
        state["running"] = True
        state["cards"][index] = run_one(name, upload.getvalue(), loader, aligner, rerun, lang)
        state["running"] = False

    clicked = st.button(t("ui_transcribe", lang), type="primary", disabled=not sources)
    if clicked:
        st.button(t("ui_cancel", lang))
        state["cards"] = []
        state["running"] = True
        for name, upload in sources:
            state["cards"].append(run_one(name, upload.getvalue(), loader, aligner, options, lang))
        state["running"] = False
        st.rerun()

    for index, card in enumerate(state.get("cards", [])):
        show_card(index, card, lang)


main()

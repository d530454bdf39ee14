"""The page, driven through Streamlit's AppTest: what a user sees for good files, bad files and no model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from asr.i18n import t
from asr.model_source import download_command
from cleanup import private_root

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def start(monkeypatch: pytest.MonkeyPatch, model: Path | str) -> AppTest:
    monkeypatch.setenv("ASR_MODEL", str(model))
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not app.exception
    return app


def transcribe(app: AppTest) -> None:
    app.run()  # the uploader's new value enables the button
    [button] = [b for b in app.button if b.label == t("ui_transcribe", "en")]
    button.click().run()
    assert not app.exception


def job_folders() -> list[Path]:
    return sorted(private_root().glob("proc_*/qwen_asr_*"))


# Run in a fresh interpreter: torch and transformers may only be imported by the model-loading thread, and
# that import is held up until the page is checked, so the page must be complete without them.
_PAGE_WITHOUT_TORCH = """
import sys, threading
from streamlit.testing.v1 import AppTest

release = threading.Event()

class HeavyImports:
    def find_spec(self, name, path=None, target=None):
        if name in ("torch", "transformers"):
            if threading.current_thread().name != "asr-model-load":
                raise ImportError("the page imported " + name)
            release.wait(120)
        return None

sys.meta_path.insert(0, HeavyImports())
app = AppTest.from_file(sys.argv[1], default_timeout=60)
app.run()
assert not app.exception, app.exception
assert app.get("file_uploader"), "no uploader"
assert [b for b in app.button if b.label == sys.argv[2]], "no Transcribe button"
assert "torch" not in sys.modules and "transformers" not in sys.modules
print("page drawn without torch")
"""


def test_the_page_is_usable_while_torch_and_the_model_load(english_checkpoint: Path) -> None:
    env = {**os.environ, "ASR_MODEL": str(english_checkpoint)}
    done = subprocess.run(
        [sys.executable, "-c", _PAGE_WITHOUT_TORCH, APP, t("ui_transcribe", "en")],
        cwd=Path(APP).parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "page drawn without torch" in done.stdout


def test_without_a_model_the_page_loads_and_says_how_to_get_one(monkeypatch, tmp_path) -> None:
    app = start(monkeypatch, tmp_path / "not-downloaded")
    for _ in range(100):  # the model loads in the background; the page is up before it is done
        app.run()
        if app.error:
            break
    assert [e.value for e in app.error] == [t("model_missing", "en")]
    assert download_command() in [c.value for c in app.code]
    assert not app.get("file_uploader")


def test_upload_gives_transcript_verdict_and_download(monkeypatch, english_checkpoint, speech_files) -> None:
    app = start(monkeypatch, english_checkpoint)
    secret_name = "client meeting 2026 ![x](http://evil.example/x.png) :material/home:.mp3"
    good = speech_files[("en", "mp3")].read_bytes()
    files = [(secret_name, good, "audio/mpeg"), ("notes.mp3", b"just text", "audio/mpeg")]
    app.get("file_uploader")[0].set_value(files)
    transcribe(app)
    assert [a.value for a in app.text_area if a.label == t("ui_transcript", "en")] == ["hello world"]
    markdown = [m.value for m in app.markdown]
    # shown as itself: Markdown in a file name must not become an image the browser would fetch
    escaped = r"client meeting 2026 \!\[x\]\(http\://evil\.example/x\.png\) \:material/home\:\.mp3"
    assert f"**{escaped}**" in markdown
    assert any(m.startswith("**English en · 100%**") for m in markdown)
    assert [e.value for e in app.error] == [t("not_audio", "en")]
    labels = [d.proto.label for d in app.get("download_button")]
    assert labels == [t("ui_download", "en", ext=ext) for ext in ("txt", "srt", "vtt", "json", "docx")]
    assert job_folders() == []


def test_refused_language_offers_transcribe_anyway(monkeypatch, japanese_checkpoint, speech_files) -> None:
    app = start(monkeypatch, japanese_checkpoint)
    upload = speech_files[("en", "wav")].read_bytes()
    app.get("file_uploader")[0].set_value(("memo.wav", upload, "audio/wav"))
    transcribe(app)
    assert [e.value for e in app.error] == [t("language_refused", "en")]
    assert not [a for a in app.text_area if a.label == t("ui_transcript", "en")]
    [language] = [s for s in app.selectbox if s.label == t("ui_override_language", "en")]
    language.set_value("Japanese")
    [anyway] = [b for b in app.button if b.label == t("ui_transcribe_anyway", "en")]
    anyway.click().run()
    assert not app.exception
    assert [a.value for a in app.text_area if a.label == t("ui_transcript", "en")] == ["hello world"]
    assert any(m.value == r"**forced\: Japanese**" for m in app.markdown)


def test_transcribe_anyway_is_not_offered_once_the_cards_file_has_left_the_uploader(
    monkeypatch, japanese_checkpoint, speech_files
) -> None:
    app = start(monkeypatch, japanese_checkpoint)
    app.get("file_uploader")[0].set_value(("memo.wav", speech_files[("en", "wav")].read_bytes(), "audio/wav"))
    transcribe(app)
    assert [b for b in app.button if b.label == t("ui_transcribe_anyway", "en")]
    app.get("file_uploader")[0].clear().run()
    assert [e.value for e in app.error] == [t("language_refused", "en")], "the card keeps its outcome"
    assert [w.value for w in app.warning] == [t("ui_upload_removed", "en")]
    assert not [b for b in app.button if b.label == t("ui_transcribe_anyway", "en")]


def test_microphone_recording_goes_through_the_same_pipeline(monkeypatch, english_checkpoint, speech_files):
    app = start(monkeypatch, english_checkpoint)
    recording = ("recording.wav", speech_files[("en", "wav")].read_bytes(), "audio/wav")
    app.get("audio_input")[0].set_value(recording)
    transcribe(app)
    assert [a.value for a in app.text_area if a.label == t("ui_transcript", "en")] == ["hello world"]
    assert f"**{t('ui_recording_name', 'en')}**" in [m.value for m in app.markdown]


def test_cleanup_disabled_shows_the_kept_path(monkeypatch, english_checkpoint, speech_files) -> None:
    monkeypatch.setenv("CLEANUP_DISABLED", "1")
    app = start(monkeypatch, english_checkpoint)
    app.get("file_uploader")[0].set_value(("a.wav", speech_files[("en", "wav")].read_bytes(), "audio/wav"))
    transcribe(app)
    [kept] = job_folders()
    assert t("ui_kept_path", "en", path=kept / "audio_wav.wav") in [c.value for c in app.caption]
    assert (kept / "audio_wav.wav").is_file()


def test_the_page_speaks_chinese(monkeypatch, english_checkpoint) -> None:
    app = start(monkeypatch, english_checkpoint)
    app.radio[0].set_value("中文").run()
    assert app.title[0].value == t("ui_title", "zh")
    assert [b.label for b in app.button] == [t("ui_live_start", "zh"), t("ui_transcribe", "zh")]


def test_word_timestamps_checkbox_uses_the_aligner_or_says_how_to_get_it(
    monkeypatch, english_checkpoint, aligner_checkpoint, speech_files, tmp_path
) -> None:
    monkeypatch.setenv("ASR_ALIGNER_MODEL", str(tmp_path / "no-aligner-here"))
    app = start(monkeypatch, english_checkpoint)
    app.sidebar.checkbox[0].check().run()
    assert t("aligner_missing", "en") in [e.value for e in app.error]
    assert download_command("Qwen/Qwen3-ForcedAligner-0.6B-hf") in [c.value for c in app.code]

    monkeypatch.setenv("ASR_ALIGNER_MODEL", str(aligner_checkpoint))
    app.run()
    assert not app.error
    app.get("file_uploader")[0].set_value(("a.wav", speech_files[("en", "wav")].read_bytes(), "audio/wav"))
    transcribe(app)
    [card] = app.session_state["cards"]
    assert [w.text for w in card.outcome.transcript.segments[0].words] == ["hello", "world"]


def test_a_setting_that_cannot_be_used_is_shown_instead_of_the_uploader(monkeypatch, english_checkpoint):
    monkeypatch.setenv("ASR_MAX_SECONDS", "3h")
    app = start(monkeypatch, english_checkpoint)
    assert [e.value for e in app.error] == [
        "ASR_MAX_SECONDS=3h cannot be used: give a positive number of seconds, e.g. 10800 for 3 hours."
    ]
    assert not app.get("file_uploader")


def test_an_unexpected_error_fails_that_card_only_and_the_next_job_works(
    monkeypatch, english_checkpoint, speech_files
) -> None:
    from asr.engines.transformers_engine import AsrEngine

    original = AsrEngine.transcribe
    calls = []

    def first_call_crashes(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AsrEngine, "transcribe", first_call_crashes)
    app = start(monkeypatch, english_checkpoint)
    good = speech_files[("en", "wav")].read_bytes()
    app.get("file_uploader")[0].set_value([("a.wav", good, "audio/wav"), ("b.wav", good, "audio/wav")])
    transcribe(app)
    assert [e.value for e in app.error] == [t("job_unexpected", "en")]  # a.wav only, in the user's language
    assert [a.value for a in app.text_area if a.label == t("ui_transcript", "en")] == ["hello world"]  # b.wav
    assert t("ui_cancelled", "en") not in [i.value for i in app.info]
    assert job_folders() == []
    app.run()  # the next run says nothing of a cancel either
    assert t("ui_cancelled", "en") not in [i.value for i in app.info]
    assert t("ui_interrupted", "en") not in [i.value for i in app.info]


def test_a_passage_cut_at_the_token_budget_is_flagged_on_the_card(
    monkeypatch, english_checkpoint, speech_files
) -> None:
    import asr.transcribe

    monkeypatch.setattr(asr.transcribe, "token_budget", lambda chunks, tokens_per_second: 3)
    app = start(monkeypatch, english_checkpoint)
    app.get("file_uploader")[0].set_value(("a.wav", speech_files[("en", "wav")].read_bytes(), "audio/wav"))
    transcribe(app)
    assert [w.value for w in app.warning] == [t("token_limit", "en", times="00:03")]

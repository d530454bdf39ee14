"""The page's HTML builders and assets (page/), without Streamlit: what each card's raw HTML shows, and that
no transcript or file name can break out of it. The browser drives the same HTML in test_e2e_browser."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from asr.i18n import t
from asr.outputs.review import Match, ReviewSegment, ReviewWord
from page import ASSETS
from page.copy import copy_button_html
from page.review import found_html, review_html
from page.text import plain

HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


class Elements(HTMLParser):
    """Every start tag (with its attributes) and the text inside each <script>, as a browser would split
    the document: a `</script>` inside a transcript would show up here as an extra script."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []  # what the page shows: outside <script> and <style>
        self._raw: list[str] | None = None
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._raw = self.scripts if tag == "script" else self.styles
            self._raw.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._raw = None

    def handle_data(self, data: str) -> None:
        if self._raw is not None:
            self._raw[-1] += data
        else:
            self.text.append(data)

    def all(self, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
        return [a for name, a in self.tags if name == tag and (cls is None or cls in (a.get("class") or ""))]


def word(text: str, probability: float | None = None, start: float | None = None, space: bool = True):
    return ReviewWord(text, space, start, None if start is None else start + 0.5, probability)


def segment(start: float, *words: ReviewWord, speaker: int | None = None) -> ReviewSegment:
    return ReviewSegment(0, start, start + 5, speaker, words, None)


def test_each_segment_plays_from_its_time_in_the_cards_own_player() -> None:
    segments = [segment(0.0, word("hello", space=False)), segment(65.5, word("world", space=False))]
    page = Elements(review_html(segments, {}, 0.5, "player_abc", "en"))
    [root] = page.all("div", "asr-review")
    assert root["data-player"] == "player_abc"
    rows = page.all("div", "asr-seg")
    assert [(r["data-start"], r["data-end"]) for r in rows] == [("0.00", "5.00"), ("65.50", "70.50")]
    assert [b["data-seek"] for b in page.all("button", "asr-time")] == ["0.00", "65.50"]
    assert page.text == ["00:00", "hello", "01:05", "world"]
    assert page.styles == ["\n" + (ASSETS / "review.css").read_text("utf-8")], "the list carries its style"


def test_words_the_model_doubted_are_marked_with_their_probability_and_timed_words_light_up() -> None:
    seg = segment(0.0, word("hello", 0.9, 0.0, space=False), word("brave", 0.31, 0.6), word("world", None))
    page = Elements(review_html([seg], {}, 0.5, "player_x", "zh"))
    [low] = page.all("mark", "asr-low")
    assert low["title"] == t("ui_word_probability", "zh", percent=31)
    timed = page.all("span", "asr-w")
    assert [(s["data-start"], s["data-end"]) for s in timed] == [("0.00", "0.50"), ("0.60", "1.10")]
    assert len(Elements(review_html([seg], {}, 0.3, "player_x", "en")).all("mark", "asr-low")) == 0


def test_speaker_names_and_transcript_text_are_shown_as_text_never_as_markup() -> None:
    seg = segment(1.0, word(HOSTILE, 0.1, space=False), speaker=1)
    document = review_html([seg], {1: "<b>Host</b>"}, 0.5, "player_x", "en")
    page = Elements(document)
    assert page.scripts == [] and page.all("img") == [] and page.all("b") == []
    [who] = page.all("span", "asr-who")
    assert "<b>Host</b>" in page.text and HOSTILE in page.text
    assert who == {"class": "asr-who"}


def test_a_search_marks_what_it_found_and_each_hit_plays_from_its_segment() -> None:
    matches = [
        Match(0, 12.0, 2, "Hello <brave> world, brave", ((7, 12), (21, 26))),
        Match(3, 75.25, None, "brave", ((0, 5),)),
    ]
    page = Elements(found_html(matches, {2: "Guest"}, "player_y"))
    [root] = page.all("div", "asr-found")
    assert root["data-player"] == "player_y"
    assert [b["data-seek"] for b in page.all("button", "asr-time")] == ["12.00", "75.25"]
    marked = HitText(found_html(matches, {2: "Guest"}, "player_y")).hits
    assert marked == ["brave", "brave", "brave"]
    assert "Guest" in page.text and "Hello <" in page.text


class HitText(HTMLParser):
    """The text inside each `mark.asr-hit`."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.hits: list[str] = []
        self._in = False
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag == "mark" and dict(attrs).get("class") == "asr-hit"
        if self._in:
            self.hits.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.hits[-1] += data


def test_the_copy_button_carries_any_transcript_intact_and_inert() -> None:
    text = f"第一行 {HOSTILE}\n'second' line <!-- \u2028"
    page = Elements(copy_button_html(text, "Copy text", "Copied ✓"))
    assert page.all("button") == [{"id": "copy"}]
    assert page.all("img") == [], "the transcript became markup"
    data, script = page.scripts
    assert json.loads(data) == {"text": text, "label": "Copy text", "done": "Copied ✓"}
    assert script.strip() == (ASSETS / "copy.js").read_text("utf-8").strip()


def test_markdown_shows_a_file_name_as_itself() -> None:
    assert plain("![x](http://evil.example/x.png) :material/home:.mp3") == (
        r"\!\[x\]\(http\://evil\.example/x\.png\) \:material/home\:\.mp3"
    )


def test_a_run_s_copy_of_an_upload_shares_its_bytes_and_reads_the_same() -> None:
    """Streamlit deep-copies widget values every run; a gigabyte upload must not be held twice."""
    import copy

    from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

    from page.uploads import share_upload_bytes

    data = bytes(range(256)) * 4096
    upload = UploadedFile(UploadedFileRec("id-1", "call.wav", "audio/wav", data), None)  # type: ignore[arg-type]
    upload.read(100)
    share_upload_bytes()
    [copied] = copy.deepcopy([upload])
    assert copied is not upload and copied.getvalue() is data, "the copy holds the same bytes, not new ones"
    assert (copied.file_id, copied.name, copied.type, copied.size) == (
        "id-1",
        "call.wav",
        "audio/wav",
        len(data),
    )
    assert copied.tell() == 0 and copied.read() == data and upload.tell() == 100


def test_live_text_shows_committed_segments_with_times_and_the_utterance_in_progress_apart() -> None:
    from asr.live import LiveView
    from asr.outputs.transcript import Segment
    from page.live import live_text_html

    said = tuple(
        Segment(a, b, text, "English") for a, b, text in [(2, 4, HOSTILE), (65, 68, "second"), (70, 71, " ")]
    )
    page = Elements(live_text_html(LiveView(said, "still speaking", 72.0, 0.0, False, True, None), "en"))
    assert [row for row in page.text if row.strip()] == [
        "00:02",
        " " + HOSTILE,
        "01:05",
        " second",
        "still speaking",
    ]
    assert len(page.all("div", "asr-live-seg")) == 2 and page.all("img") == [] and page.scripts == []
    [provisional] = page.all("div", "asr-live-provisional")
    assert provisional is not None


def test_the_microphone_script_posts_to_its_own_recording_on_this_server_only() -> None:
    from page.live import LIVE_PATH, capture_html

    page = Elements(capture_html("tok_en-1", "zh"))
    [script] = page.scripts
    assert f'"url": "{LIVE_PATH}/tok_en-1"' in script and '"token": "tok_en-1"' in script
    assert json.dumps(t("ui_live_mic_denied", "zh")) in script and "RTCPeerConnection" not in script
    assert "http://" not in script and "https://" not in script, "a relative URL: the page's own server"
    [status] = page.all("div", "asr-live-mic")
    assert f'"statusId": "{status["id"]}"' in script and page.text == [t("ui_live_starting", "zh")]

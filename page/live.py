"""Live mode's pieces that are not widgets: the microphone script, the text while people speak, and the route
the script posts its audio to.

The audio travels over the app's own HTTP server, the one the page came from (so it is loopback wherever the
page is): `live_route` is mounted on the app (`st.App(routes=...)`) and hands each piece to the recording
its unguessable token names (`asr.live.live_job`), or answers 410 Gone, which ends the browser's capture.
Nothing here keeps audio: the recording's job does, in its private folder.
"""

from __future__ import annotations

import html
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from asr.i18n import Lang, t
from asr.live import LiveView, live_job
from asr.outputs.transcript import clock
from page import asset

LIVE_PATH = "/live-audio"
MAX_PIECE_BYTES = 2 * 16000 * 30  # 30 s of audio: the script sends a tenth of a second at a time

_SCRIPT = asset("live.js")
_STYLE = f"<style>\n{asset('live.css')}</style>"


def capture_html(token: str, lang: Lang) -> str:
    """The script that streams the microphone to this recording, and the line it reports its state in."""
    status_id = f"asr-live-mic-{token[:8]}"
    config = {
        "token": token,
        "url": f"{LIVE_PATH}/{token}",
        "statusId": status_id,
        "listening": t("ui_live_listening", lang),
        "denied": t("ui_live_mic_denied", lang),
    }
    literal = json.dumps(config).replace("</", "<\\/")
    starting = html.escape(t("ui_live_starting", lang))
    return (
        f'<div class="asr-live-mic" id="{status_id}">{starting}</div>'
        f"<script>\n{_SCRIPT}\nwindow.__asrStartLive({literal});\n</script>"
    )


def live_text_html(view: LiveView, lang: Lang) -> str:
    """Committed segments with their times, then the utterance in progress, set apart as not yet final."""
    rows = [
        f'<div class="asr-live-seg"><span class="asr-time">{clock(s.start)}</span>'
        f" {html.escape(s.text)}</div>"
        for s in view.committed
        if s.text.strip()
    ]
    if view.provisional:
        rows.append(f'<div class="asr-live-provisional">{html.escape(view.provisional)}</div>')
    return f'{_STYLE}<div class="asr-live">{"".join(rows)}</div>'


async def _receive(request: Request) -> Response:
    job = live_job(request.path_params["token"])
    if job is None:
        return Response(status_code=410)
    body = await request.body()
    if len(body) > MAX_PIECE_BYTES or len(body) % 2:
        return Response(status_code=400)
    return Response(status_code=204 if job.feed(body) else 410)


def live_route() -> Route:
    """POST {LIVE_PATH}/{token}: the next piece of a live recording's audio."""
    return Route(LIVE_PATH + "/{token}", _receive, methods=["POST"])

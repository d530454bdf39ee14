"""The `/v1` routes: `POST /v1/audio/transcriptions`, `GET /v1/models`, `GET /v1/models/{id}`.

Mounted on the page's own server (`app.py`: one process, one model in memory) and on `python -m asr serve`
(`api.serve`). Clients on this computer need no key unless one is set; any other client must send
`Authorization: Bearer <ASR_API_KEY>`, and with no key set the API answers no one but loopback. Each
transcription is received into its job's folder, run in a thread of its own, and watched: a client that
disconnects cancels its job (the engine stops within a step; the thread removes the folder). With
`stream=true` the text comes as Server-Sent Events, a `transcript.text.delta` per segment as soon as it and
everything before it are done, then `transcript.text.done`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from api.errors import ApiError, client_language, error_body, error_response
from api.form import TranscriptionRequest, receive_form
from api.formats import MEDIA_TYPES, TextDeltas, event, render
from api.service import TranscriptionService
from asr.engines.protocol import Cancel
from asr.i18n import Lang, t
from asr.job import Cancelled, Failed, JobOutcome, Transcribed
from asr.outputs.transcript import Segment
from asr.settings import SettingsError
from cleanup.workspace import job_workspace

log = logging.getLogger(__name__)
T = TypeVar("T")
WATCH_S = 0.25  # how often a running request looks whether its client is still there
_STARTED = int(time.time())


def api_routes(service: Callable[[], TranscriptionService]) -> list[BaseRoute]:
    """The routes, on `service()` (made when first asked: the page's settings are read on first use)."""
    api = _Api(service)
    return [
        Mount(
            "/v1",
            routes=[
                Route("/audio/transcriptions", api.transcriptions, methods=["POST"]),
                Route("/models", api.models, methods=["GET"]),
                Route("/models/{model_id:path}", api.model, methods=["GET"]),
                Route("/{rest:path}", api.not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            ],
        )
    ]


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"


class _Api:
    def __init__(self, service: Callable[[], TranscriptionService]) -> None:
        self._service = service

    def _authorized(self, request: Request) -> TranscriptionService:
        try:
            service = self._service()
        except SettingsError as exc:
            found = {"variable": exc.variable, "value": exc.value, "accepts": t(exc.accepts)}
            raise ApiError(500, "settings_invalid", found) from None
        key = service.settings.api_key
        if key is None:
            if not _loopback(request.client.host if request.client else None):
                raise ApiError(401, "api_key_unset", code="invalid_api_key")
            return service
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {key}".encode()):
            raise ApiError(401, "api_key_refused", code="invalid_api_key")
        return service

    async def models(self, request: Request) -> Response:
        try:
            service = self._authorized(request)
        except ApiError as error:
            return error_response(error, client_language(request))
        return JSONResponse({"object": "list", "data": [_model(service.served)]})

    async def model(self, request: Request) -> Response:
        try:
            service = self._authorized(request)
            wanted = request.path_params["model_id"]
            if wanted not in (service.served, service.served.rsplit("/", 1)[-1]):
                raise ApiError(404, "api_model_unknown", {"model": wanted, "served": service.served}, "model")
        except ApiError as error:
            return error_response(error, client_language(request))
        return JSONResponse(_model(service.served))

    async def not_found(self, request: Request) -> Response:
        error = ApiError(404, "api_not_found", {"path": request.url.path}, code="not_found")
        return error_response(error, client_language(request))

    async def transcriptions(self, request: Request) -> Response:
        lang = client_language(request)
        held = ExitStack()  # the admission and the job folder: handed to the job's thread once it starts
        try:
            service = self._authorized(request)
            service.backend()  # 503 while it loads, before a byte of audio is read
            held.enter_context(service.admitted())
            workspace = held.enter_context(job_workspace())
            kind = request.headers.get("content-type", "")
            form = await receive_form(kind, request.stream(), workspace.upload_path)
            ask = TranscriptionRequest.of(form, service.served)
        except ApiError as error:
            held.close()
            return error_response(error, lang)
        except ClientDisconnect:
            held.close()
            log.info("API client went away during its upload")
            return Response(status_code=499)
        except BaseException:  # the server is stopping
            held.close()
            raise
        cancel = Cancel()
        settled = _Settled() if ask.stream else None
        job = _in_thread(
            lambda: service.run(ask, form, workspace, held, cancel, settled.put if settled else None)
        )
        try:  # until the answer is ready or, for a stream, its first text (a bad file is still a 4xx)
            first = await _watched(request, job, cancel, settled)
            if first is None and not job.done():
                return Response(status_code=499)  # the client went away: its job is cancelled
            if settled is not None and (first is not None or isinstance(job.result(), Transcribed)):
                events = _cancelled_when_left(settled.events(first, job, lang), job, cancel)
                return StreamingResponse(events, media_type="text/event-stream")
            outcome = job.result()
        except ApiError as error:
            return error_response(error, lang)
        except BaseException:
            cancel.set()
            raise
        return _answer(outcome, ask, lang)


async def _watched(
    request: Request, job: asyncio.Future[JobOutcome], cancel: Cancel, settled: _Settled | None
) -> tuple[Segment, ...] | None:
    """Wait for the job to end or (a stream) for its first settled segments, which are returned; a client
    that disconnects meanwhile cancels the job (None, the job not done)."""
    first = asyncio.ensure_future(settled.queue.get()) if settled is not None else None
    try:
        while not job.done() and not (first is not None and first.done()):
            if await request.is_disconnected():
                log.info("API client went away: job cancelled")
                cancel.set()
                return None
            either: set[asyncio.Future[Any]] = {job} if first is None else {job, first}
            await asyncio.wait(either, timeout=WATCH_S)
        return first.result() if first is not None and first.done() else None
    finally:
        if first is not None and not first.done():
            first.cancel()


class _Settled:
    """A stream's segments as the job settles them (from its thread), and the events they make."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[Segment, ...]] = asyncio.Queue()

    def put(self, segments: tuple[Segment, ...]) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, segments)
        except RuntimeError:  # the server stopped (its loop is closed): nobody is listening any more
            pass

    async def events(
        self, first: tuple[Segment, ...] | None, job: asyncio.Future[JobOutcome], lang: Lang
    ) -> AsyncIterator[str]:
        deltas = TextDeltas()
        for text in deltas.events(first or ()):
            yield text
        while not (job.done() and self.queue.empty()):
            waiting = asyncio.ensure_future(self.queue.get())
            either: set[asyncio.Future[Any]] = {waiting, job}
            done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if waiting in done:
                for text in deltas.events(waiting.result()):
                    yield text
            else:
                waiting.cancel()
        try:
            outcome = job.result()
        except ApiError as error:
            yield event(error_body(error, lang))
            return
        if isinstance(outcome, Transcribed):
            yield deltas.done(outcome.transcript)
        elif isinstance(outcome, Failed):  # after its first text: the answer has begun, so an error event
            yield event(error_body(ApiError.of_job(outcome.reason), lang))


async def _cancelled_when_left(
    events: AsyncIterator[str], job: asyncio.Future[JobOutcome], cancel: Cancel
) -> AsyncIterator[str]:
    """`events`, and the job cancelled if the response ends before it does (its client went away)."""
    try:
        async for text in events:
            yield text
    finally:
        if not job.done():
            log.info("API client went away: job cancelled")
            cancel.set()


def _answer(outcome: JobOutcome, ask: TranscriptionRequest, lang: Lang) -> Response:
    if isinstance(outcome, Transcribed):
        body = render(outcome.transcript, ask.response_format, ask.words)
        return Response(body, media_type=MEDIA_TYPES[ask.response_format])
    if isinstance(outcome, Cancelled):
        return error_response(ApiError(503, "ui_cancelled", code="cancelled"), lang)
    return error_response(ApiError.of_job(outcome.reason), lang)


def _model(served: str) -> dict[str, object]:
    return {"id": served, "object": "model", "created": _STARTED, "owned_by": "local"}


def _in_thread(work: Callable[[], T]) -> asyncio.Future[T]:
    """`work()` on a thread of its own (not the event loop's small pool: eight requests run side by side),
    as a future of this loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(set_result: Callable[[], None]) -> None:
        if not future.done():
            set_result()

    def run() -> None:
        try:
            result = work()
            done = lambda: future.set_result(result)  # noqa: E731
        except BaseException as exc:  # handed to the request, whatever it is
            failure = exc
            done = lambda: future.set_exception(failure)  # noqa: E731
        try:
            loop.call_soon_threadsafe(settle, done)
        except RuntimeError:  # the server stopped while the job ran: nobody is waiting
            pass

    threading.Thread(target=run, name="api-job", daemon=True).start()
    return future

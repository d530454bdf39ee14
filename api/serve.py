"""`python -m asr serve`: the API without the page, for a machine that only serves (default 127.0.0.1:8000).

The process is secured as the page's is (`privacy.process.secure_process`: the private temp root, the exit
handlers, content-free logs, the network guard) before it listens. Binding beyond loopback needs an API key
(`ASR_API_KEY` / `ASR_API_KEY_FILE`) and is refused without one; the Host header is checked against the
names the server answers to (loopback's, the address it binds, and each `--allow-host`), as the page's
server checks it, so a DNS-rebinding page cannot reach it. The model starts loading at once; until it is
loaded, transcriptions are answered 503 with a Retry-After.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from api.routes import api_routes
from api.service import TranscriptionService
from asr.background import SHARED_MODELS
from asr.settings import Settings
from privacy.process import secure_process

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def binds_beyond_loopback(host: str) -> bool:
    """Whether a server bound to `host` can be reached from other machines (0.0.0.0, a LAN address...)."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True  # a name: whatever it resolves to may be reachable


def allowed_hosts(host: str, extra: Sequence[str]) -> list[str]:
    """The Host header values answered: loopback's names, the bound address unless a wildcard, `extra`."""
    wildcard = host.strip("[]") in ("0.0.0.0", "::")
    return [*LOOPBACK_NAMES, *([] if wildcard else [host]), *extra]


class _Server(uvicorn.Server):
    """uvicorn, less its SIGTERM handler: ours (`cleanup.shutdown`) ends the process at once and removes every
    job folder, where uvicorn's graceful stop would wait for the jobs in flight."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        ours = signal.getsignal(signal.SIGTERM)
        with super().capture_signals():
            signal.signal(signal.SIGTERM, ours)
            yield


def serve(settings: Settings, host: str, port: int, allow_hosts: Sequence[str] = ()) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM); the caller has checked the key beyond loopback."""
    secure_process()
    service = TranscriptionService(settings)
    SHARED_MODELS.backend(settings)  # loading starts now, not at the first request
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host, allow_hosts))]
    app = Starlette(routes=api_routes(lambda: service), middleware=middleware)
    log.info("API serving on port %d", port)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    _Server(config).run()

"""What Streamlit 1.67's server needs so that it never reaches out and never serves strangers.

* `net_util.get_internal_ip` opens a UDP socket "to" 8.8.8.8 and `get_external_ip` makes an HTTP request to
  checkip.amazonaws.com. With `server.address` set the startup banner skips them, but
  `server_util.is_url_from_allowed_origins` still calls both on every WebSocket attempt whose Origin is not
  the page's own, so any web page could make our server phone out. Both now answer "unknown" with no socket.
* `server.allowedHosts` only guards the WebSocket; plain HTTP routes (the page, uploaded media, downloads)
  would still answer `Host: evil.example`, which is what a DNS-rebinding page sends. `host_check()` is
  Starlette's TrustedHostMiddleware fed the same list; `app.py` hands it to `st.App`, so it runs before any
  route, whichever command started the server.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

DEFAULT_HOSTS = ("localhost", "127.0.0.1")


def _no_address() -> None:
    return None


def pin_local_addresses() -> None:
    from streamlit import net_util

    net_util.get_internal_ip = _no_address
    net_util.get_external_ip = _no_address


def host_check() -> list[Middleware]:
    """Middleware that answers 400 to any Host header not in `server.allowedHosts`."""
    from streamlit import config

    hosts = list(config.get_option("server.allowedHosts") or DEFAULT_HOSTS)
    return [Middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)]

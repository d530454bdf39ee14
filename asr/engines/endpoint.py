"""Where a team's speech server is, read from `ASR_SERVER` once: scheme, host and port, nothing else.

The network guard lets the app reach exactly this host and port (`privacy.guard.allow`), the page and the
CLI say that audio goes there, and the vLLM engine sends its requests there. A URL with a path, a query, a
user name or a password is refused when the settings are read: the API key has its own variable, and a
path would be a second place a request could be sent to.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Endpoint:
    """A server's base address: `http://host:port` or `https://host:port`."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Raise ValueError for anything but `http(s)://host[:port]` (an optional trailing slash)."""
        parts = urlsplit(url.strip())
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(url)
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(url)
        port = parts.port or _DEFAULT_PORTS[parts.scheme]  # parts.port raises ValueError when out of range
        return cls(parts.scheme, parts.hostname, port)

    @property
    def address(self) -> str:
        """`host:port` (IPv6 in brackets): what the user is shown as where audio is sent."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

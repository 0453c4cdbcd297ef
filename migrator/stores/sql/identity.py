"""Is the target the source? Compared by what the URLs point at, not by how they are spelled."""

from __future__ import annotations

import os
import socket

from sqlalchemy.engine import URL

from migrator.stores.sql.connect import backend

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def same_database(a: URL, b: URL) -> bool:
    if backend(a) != backend(b):
        return False
    if backend(a) == "sqlite":
        return _same_file(a.database or "", b.database or "")
    return _server(a) == _server(b) and (a.database or "") == (b.database or "")


def _same_file(a: str, b: str) -> bool:
    if not a or not b or ":memory:" in (a, b):
        return False
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def _server(url: URL) -> tuple[frozenset[str], int]:
    host = url.host or "localhost"
    port = url.port or _DEFAULT_PORTS.get(backend(url), 0)
    return _addresses(host), port


def _addresses(host: str) -> frozenset[str]:
    """Every address a host name stands for; the loopback names all count as one machine."""
    try:
        infos = socket.getaddrinfo(host, None)
        addresses = {str(info[4][0]) for info in infos}
    except OSError:
        addresses = {host.lower()}
    if any(a.startswith("127.") or a == "::1" for a in addresses) or host.startswith("/"):
        return frozenset({"loopback"})
    return frozenset(addresses)

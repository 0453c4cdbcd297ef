"""Is the target the source? Compared by what the URLs point at, not by how they are spelled."""

from __future__ import annotations

import os
import socket

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

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


def same_server_database(source: Engine, target: Connection) -> bool:
    """Ask both servers who they are: catches the aliases no URL comparison can (another host name
    or address of the same machine, a proxy, a port forward). The source is asked on a connection of
    its own, so that a refused question cannot disturb the snapshot the run reads in."""
    with source.connect() as conn:
        a = _identity(conn)
    b = _identity(target)
    target.rollback()
    return a is not None and a == b


def _identity(conn: Connection) -> tuple[str, ...] | None:
    backend = conn.dialect.name
    try:
        if backend == "postgresql":
            row = conn.exec_driver_sql(
                "SELECT system_identifier::text, current_database(), inet_server_port()::text FROM pg_control_system()"
            ).one()
        elif backend == "mysql":
            row = conn.exec_driver_sql("SELECT @@hostname, CAST(@@port AS CHAR), DATABASE(), @@datadir").one()
        else:
            return None
    except sa.exc.DBAPIError:
        conn.rollback()  # e.g. pg_control_system() is for superusers and pg_monitor only
        return None
    return (backend, *(str(v) for v in row))

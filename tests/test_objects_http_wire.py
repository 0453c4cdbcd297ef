"""The lean path's HTTP/1.1 client (stores/objects/http_wire.py) against a real socket server written for
these cases: kept-alive connections reused, a connection the server closed while idle replaced (the
request sent again once), a chunked answer, `Connection: close`, an answer cut short, a refused
connection and a read timeout. (S3 answers themselves are covered against SeaweedFS and moto in
tests/test_objects_s3_direct.py.)"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from migrator.stores.objects.http_wire import ConnectionPool, WireError
from tests.s3_local import free_port
from tests.tcp_listener import Listener

# (request number on this connection, the request) -> what to send; None: close; (bytes, "close"): send, close
Answer = Callable[[int, bytes], bytes | tuple[bytes, str] | None]


class _Server:
    """Accepts connections; on each, reads requests (headers and a Content-Length body) and writes what
    `answer` returns for it, closing the connection when it returns None."""

    def __init__(self, answer: Answer):
        self.answer = answer
        self.requests: list[bytes] = []
        self.listener = Listener(self._serve)
        self.port = self.listener.port

    @property
    def connections(self) -> int:
        return self.listener.connections

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        number = 0
        with sock, reader:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                request = head + reader.read(length)
                self.requests.append(request)
                number += 1
                reply = self.answer(number, request)
                if reply is None:
                    return
                sock.sendall(reply if isinstance(reply, bytes) else reply[0])
                if not isinstance(reply, bytes):
                    return

    def pool(self, read_timeout: float = 5.0) -> ConnectionPool:
        return ConnectionPool("http", "127.0.0.1", self.port, maxsize=4, timeouts=(2.0, read_timeout))

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], _Server]]:
    servers: list[_Server] = []

    def start(answer: Answer) -> _Server:
        servers.append(_Server(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _ok(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in ("HTTP/1.1 200 OK", f"Content-Length: {len(body)}", 'ETag: "e"', *extra))
    return head.encode() + b"\r\n" + body


def test_a_kept_alive_connection_carries_the_next_request(serve: Callable[[Answer], _Server]) -> None:
    server = serve(lambda number, request: _ok(b"body %d" % number))
    pool = server.pool()
    answers = [pool.request("GET", f"/b/k{i}", {"host": "h"}, b"") for i in range(3)]
    assert [answer.body for answer in answers] == [b"body 1", b"body 2", b"body 3"]
    assert answers[0].headers.get("etag") == answers[0].headers["ETag"] == '"e"'  # any case
    assert server.connections == 1
    put = pool.request("PUT", "/b/k", {"host": "h"}, b"x" * 100_000)  # a body sent apart from its headers
    assert put.status == 200 and server.requests[-1].endswith(b"x" * 100_000)
    assert b"content-length: 100000\r\n" in server.requests[-1]
    pool.close()


def test_a_connection_the_server_closed_while_idle_is_replaced(serve: Callable[[Answer], _Server]) -> None:
    # Each connection answers one request, then closes without saying so (an idle timeout on the server).
    server = serve(lambda number, request: _ok(b"fine") if number == 1 else None)
    pool = server.pool()
    assert pool.request("GET", "/b/one", {"host": "h"}, b"").body == b"fine"
    assert pool.request("PUT", "/b/two", {"host": "h"}, b"data").body == b"fine"  # sent again, once
    assert server.connections == 2
    assert server.requests[-1].endswith(b"data")


def test_chunked_and_closing_answers(serve: Callable[[Answer], _Server]) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"
    replies = {1: chunked, 2: _ok(b"last", "Connection: close")}
    server = serve(lambda number, request: replies.get(number))
    pool = server.pool()
    assert pool.request("GET", "/b/c", {"host": "h"}, b"").body == b"hello world"
    assert pool.request("GET", "/b/d", {"host": "h"}, b"").body == b"last"
    assert pool.request("GET", "/b/e", {"host": "h"}, b"").body == b"hello world"  # a new connection
    assert server.connections == 2


def test_an_answer_cut_short_fails(serve: Callable[[Answer], _Server]) -> None:
    server = serve(lambda number, request: (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "close"))
    with pytest.raises(WireError, match="ended after 5 of its 10 bytes") as cut:
        server.pool().request("GET", "/b/k", {"host": "h"}, b"")
    assert not cut.value.refused


def test_refused_and_silent_servers(serve: Callable[[Answer], _Server]) -> None:
    nothing = ConnectionPool("http", "127.0.0.1", free_port(), maxsize=1, timeouts=(2.0, 2.0))
    with pytest.raises(WireError) as refused:
        nothing.request("GET", "/b/k", {"host": "h"}, b"")
    assert refused.value.refused
    silent = serve(lambda number, request: b"")  # reads the request, never answers
    with pytest.raises(WireError, match="timed out") as timed_out:
        silent.pool(read_timeout=0.3).request("GET", "/b/k", {"host": "h"}, b"")
    assert not timed_out.value.refused

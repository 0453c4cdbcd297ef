"""A minimal HTTP/1.1 client for the lean request path: one request, one whole answer, kept-alive sockets.

Why not urllib3 (or http.client): for a 256 KiB GET, their request and answer objects, header parsing
through the email package, URL checks and pool bookkeeping cost more CPU than the SHA-256 of the
bytes. What this path sends is narrow (a GET or a PUT of a whole object, headers we built, a body in
memory) and what it reads is S3's answer, so the protocol it needs is small:

- the request line, the headers and the body written with one `sendall` for small bodies (two above
  64 KiB, so a body is never copied just to join it);
- the status line and the headers read with a buffered reader; the body by its Content-Length in one read
  into a bytes object of that size (no chunk list joined), or chunked, or until the server closes;
- a connection goes back to the pool unless either side said `Connection: close` or the answer's end
  was not framed; one reused connection that turns out closed by the server (it closed an idle
  keep-alive connection) is replaced and the request sent again once, before any answer byte was
  read: GET and PUT of a whole object are idempotent;
- timeouts for connecting and for each read; TLS through the ssl module with the CA bundle given.

Failures are `WireError` (`refused` when no connection could be made) or `WireTLSError`; the caller maps
them to its own.
"""

from __future__ import annotations

import socket
import ssl
import threading
import weakref
from dataclasses import dataclass
from typing import Any

_JOIN_BELOW = 64 * 1024  # bodies below this are sent in one sendall with the headers
_MAX_HEADER_LINES = 200
_MAX_LINE = 65536


class WireError(Exception):
    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


class WireTLSError(Exception):
    """The TLS handshake or certificate check failed."""


class Headers(dict[str, str]):
    """An answer's headers, names lower-cased; looked up in any case. A repeated header's values joined by
    `, ` (as HTTP allows)."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


@dataclass(frozen=True)
class Response:
    status: int
    headers: Headers
    body: bytes


class _Connection:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=65536)
        self.used = False  # has it carried a request (so the server may have closed it while idle)

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class _Stale(Exception):
    """A reused connection was closed by the server before it answered: send again on a fresh one."""


class ConnectionPool:
    """Kept-alive connections to one host; any thread takes one, sends, reads, puts it back."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        maxsize: int,
        timeouts: tuple[float, float],
        ca_bundle: str | None = None,
    ):
        self._address = (host, port)
        self._server_name = host
        self._timeouts = timeouts
        self._maxsize = maxsize
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        if scheme == "https":
            self._tls = ssl.create_default_context(cafile=ca_bundle)
        # The idle sockets closed when the pool is dropped (a store is not closed explicitly), as urllib3 does.
        weakref.finalize(self, _close_all, self._idle, self._lock)

    def request(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """`target`: the path as sent (percent-encoded). `headers` as sent; a Content-Length is added to a
        request with a body when they have none."""
        head = [f"{method} {target} HTTP/1.1\r\n"]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n")
        if (body or method in ("PUT", "POST")) and not any(name.lower() == "content-length" for name in headers):
            head.append(f"content-length: {len(body)}\r\n")
        head.append("\r\n")
        message = "".join(head).encode("latin-1")
        for attempt in (1, 2):
            connection = self._take(fresh=attempt == 2)
            try:
                response, reusable = self._exchange(connection, method, message, body)
            except _Stale:
                connection.close()
                continue
            except BaseException:
                connection.close()
                raise
            if reusable:
                self._give_back(connection)
            else:
                connection.close()
            return response
        raise WireError("the server closed the connection before answering")  # pragma: no cover (loop returns)

    def close(self) -> None:
        _close_all(self._idle, self._lock)

    # --- connections -----------------------------------------------------------------------------------

    def _take(self, fresh: bool) -> _Connection:
        if not fresh:
            with self._lock:
                if self._idle:
                    return self._idle.pop()
        connect, read = self._timeouts
        try:
            sock = socket.create_connection(self._address, timeout=connect)
        except TimeoutError as error:
            raise WireError(f"connecting to {self._address[0]}:{self._address[1]} timed out") from error
        except OSError as error:
            raise WireError(
                f"cannot connect to {self._address[0]}:{self._address[1]}: {error}", refused=True
            ) from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(read)
            if self._tls is not None:
                try:
                    sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)
                except (ssl.SSLError, ssl.CertificateError) as error:
                    raise WireTLSError(str(error)) from error
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._maxsize:
                connection.used = True
                self._idle.append(connection)
                return
        connection.close()

    # --- one exchange ----------------------------------------------------------------------------------

    def _exchange(self, connection: _Connection, method: str, message: bytes, body: bytes) -> tuple[Response, bool]:
        try:
            if len(body) < _JOIN_BELOW:
                connection.sock.sendall(message + body)
            else:
                connection.sock.sendall(message)
                connection.sock.sendall(body)
            status_line = connection.reader.readline(_MAX_LINE)
        except TimeoutError as error:
            raise WireError(f"timed out: {error}") from error
        except (ConnectionResetError, BrokenPipeError) as error:
            if connection.used:
                raise _Stale from error
            raise WireError(f"connection dropped: {error}") from error
        except ssl.SSLError as error:
            raise WireError(f"TLS: {error}") from error
        except OSError as error:
            raise WireError(str(error)) from error
        if not status_line:
            if connection.used:
                raise _Stale
            raise WireError("the server closed the connection without answering")
        try:
            return self._read_answer(connection, method, status_line)
        except TimeoutError as error:
            raise WireError(f"timed out reading the answer: {error}") from error
        except (OSError, ValueError) as error:
            raise WireError(f"reading the answer: {error}") from error

    def _read_answer(self, connection: _Connection, method: str, status_line: bytes) -> tuple[Response, bool]:
        version, _, rest = status_line.decode("latin-1").partition(" ")
        if not version.startswith("HTTP/"):
            raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(rest[:3])
        headers = Headers()
        reader = connection.reader
        for _ in range(_MAX_HEADER_LINES):
            line = reader.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            earlier = headers.get(name)
            headers[name] = value if earlier is None else f"{earlier}, {value}"
        else:
            raise ValueError("too many header lines")
        keep = "close" not in headers.get("connection", "").lower() and version != "HTTP/1.0"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, b""), keep
        length = headers.get("content-length")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Response(status, headers, _read_chunked(reader)), keep
        if length is not None:
            size = int(length)
            body = reader.read(size)  # one bytes object of that size, read into in place
            if len(body) != size:
                raise ValueError(f"the answer ended after {len(body)} of its {size} bytes")
            return Response(status, headers, body), keep
        return Response(status, headers, reader.read()), False  # ends when the server closes


def _close_all(idle: list[_Connection], lock: threading.Lock) -> None:
    with lock:
        connections = list(idle)
        idle.clear()
    for connection in connections:
        connection.close()


def _read_chunked(reader: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = reader.readline(_MAX_LINE)
        if not line:
            raise ValueError("the chunked answer ended early")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while reader.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunk = reader.read(size)
        if len(chunk) != size:
            raise ValueError("the chunked answer ended early")
        chunks.append(chunk)
        reader.readline(_MAX_LINE)  # the CRLF after the chunk

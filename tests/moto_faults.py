"""moto's standalone S3 server in a thread, behind a WSGI middleware that injects faults and logs requests.

For what SeaweedFS cannot do: answer 503 SlowDown or 500 InternalError to chosen requests
(`faults.add(method="PUT", query_contains="partNumber", status=503, code="SlowDown", times=2)`), answer
chosen requests slowly (`faults.slow(0.2, method="PUT")`: a kill or a Ctrl-C then lands mid-copy), and
count what a client sent (`requests.count("PUT", query_contains="partNumber")`: UploadPart calls).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.s3_local import HOST, Credentials, s3_client


@dataclass
class Fault:
    """Answer matching requests with `status`/`code` instead of moto's answer, `times` times (None: always).

    With `after=True` moto handles the request first (the write happens) and the client still sees the
    error, as when an answer is lost on the way back.
    """

    method: str | None
    path_contains: str | None
    query_contains: str | None
    status: int
    code: str
    times: int | None
    after: bool = False
    used: int = 0

    def matches(self, method: str, path: str, query: str) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
            and (self.query_contains is None or self.query_contains in query)
            and (self.times is None or self.used < self.times)
        )


_REASONS = {500: "Internal Server Error", 503: "Service Unavailable", 400: "Bad Request", 403: "Forbidden"}


class Faults:
    """The faults to inject; thread-safe, since werkzeug serves each request in its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._delays: list[tuple[Fault, float]] = []

    def add(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        query_contains: str | None = None,
        status: int = 503,
        code: str = "SlowDown",
        times: int | None = 1,
        after: bool = False,
    ) -> Fault:
        fault = Fault(method, path_contains, query_contains, status, code, times, after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def slow(
        self,
        seconds: float,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        query_contains: str | None = None,
    ) -> None:
        """Answer every matching request `seconds` late (the request is handled as usual)."""
        with self._lock:
            self._delays.append((Fault(method, path_contains, query_contains, 0, "", None), seconds))

    def delay(self, method: str, path: str, query: str) -> float:
        with self._lock:
            return sum(seconds for fault, seconds in self._delays if fault.matches(method, path, query))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def take(self, method: str, path: str, query: str) -> Fault | None:
        """The first fault matching this request, counted as used, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, query):
                    fault.used += 1
                    return fault
        return None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    status: int | None


class RequestLog:
    """Every request the server saw, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []

    def record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()

    def all(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def count(
        self, method: str | None = None, path_contains: str | None = None, query_contains: str | None = None
    ) -> int:
        """How many requests matched, e.g. UploadPart calls: `count("PUT", query_contains="partNumber")`."""
        return sum(
            1
            for request in self.all()
            if (method is None or request.method == method)
            and (path_contains is None or path_contains in request.path)
            and (query_contains is None or query_contains in request.query)
        )


def _error_body(code: str, path: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>injected by the test ({code})</Message>"
        f"<Resource>{path}</Resource><RequestId>{uuid.uuid4().hex}</RequestId></Error>"
    ).encode()


class FaultyApp:
    """WSGI middleware: records each request, then answers it with an injected fault or passes it on."""

    def __init__(self, app: Callable[..., Iterable[bytes]], faults: Faults, requests: RequestLog) -> None:
        self.app = app
        self.faults = faults
        self.requests = requests

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        fault = self.faults.take(method, path, query)
        status: list[int] = []
        pause = self.faults.delay(method, path, query)
        if pause:
            time.sleep(pause)

        def recording_start_response(status_line: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            status.append(int(status_line.split()[0]))
            return start_response(status_line, headers, *rest)

        try:
            if fault is None:
                return self.app(environ, recording_start_response)
            if fault.after:
                # Let moto do the work, consume its answer, then lose it.
                b"".join(self.app(environ, lambda *_args: None))
            else:
                _drain(environ)
            body = _error_body(fault.code, path)
            recording_start_response(
                f"{fault.status} {_REASONS.get(fault.status, 'Error')}",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]
        finally:
            self.requests.record(Request(method, path, query, status[0] if status else None))


def _drain(environ: dict[str, Any]) -> None:
    # Read the request body the fault refuses, so that the connection stays usable for the client's retry.
    from werkzeug.wsgi import get_input_stream

    stream = get_input_stream(environ)
    while stream.read(1 << 20):
        pass


@dataclass
class MotoServer:
    """moto's standalone S3 (in this process, its state shared by all tests) behind the fault middleware."""

    server: Any
    thread: threading.Thread
    endpoint_url: str
    faults: Faults
    requests: RequestLog
    admin: Credentials = field(default_factory=lambda: Credentials("testing", "testing"))

    @classmethod
    def start(cls) -> MotoServer:
        # Imported here: moto is large, and only these tests need it.
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass  # one line per request on stderr would bury the test output

        faults, requests = Faults(), RequestLog()
        app = FaultyApp(DomainDispatcherApplication(create_backend_app), faults, requests)
        server = make_server(HOST, 0, app, threaded=True, request_handler=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="moto-s3", daemon=True)
        thread.start()
        return cls(server, thread, f"http://{HOST}:{server.server_port}", faults, requests)

    def client(self, creds: Credentials | None = None, **config: Any) -> Any:
        return s3_client(self.endpoint_url, creds or self.admin, **config)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

"""Git servers for the transport and codebase tests: a bare folder, `git daemon`, `git http-backend` behind
a small WSGI server with HTTP Basic authentication and injected failures, and a pre-receive guard.

Fixtures (import them into a test module, or register them in tests/conftest.py):

- `bare_target`: an empty bare repository in tmp_path (a Path).
- `git_daemon`: `git daemon` on 127.0.0.1 and a free port, serving (and accepting pushes to) every
  repository under its own folder. Yields a `GitDaemon`: `base_url` (git://127.0.0.1:PORT), `root`,
  `new_repository(name) -> (url, path)`.
- `git_http`: `git http-backend` run as CGI for each request by a threaded wsgiref server on 127.0.0.1.
  Yields a `GitHttp`: `base_url` (http://127.0.0.1:PORT), `root`, `username`/`password` (every request
  must carry them: 401 with WWW-Authenticate otherwise), `new_repository(name)`, `fail_next(n, status=500)`
  (the next n requests get that status instead of an answer), `drop_next(n)` (the next n connections
  are closed before any answer), `requests` (method, path, status of each),
  `chunked_requests` (how many request bodies came chunked) and `watch_argv_for(secret)` (each request
  then looks through every process's command line on the machine for `secret`; `argv_hits` holds what
  it found: a test that credentials never reach argv). Request bodies are streamed to the CGI (chunked
  ones decoded: git sends a push over 1 MiB chunked), and responses are streamed back.

`install_pre_receive_guard(bare_repo, excluded_pathspecs)` writes an executable `hooks/pre-receive`
refusing any pushed commit that touches a path matching git pathspecs (e.g. `:(glob)region/eu/**`),
printing the ref and the offending paths, which git relays to the pusher as `remote:` lines.

Every server binds 127.0.0.1 on a free port and is stopped after its test; every test gets its own
repositories.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import pytest

HTTP_USER = "migrator-test"
HTTP_PASSWORD = "pa55-Wd.for:tests"
CHUNK = 64 * 1024
DROP = 0  # an injected "status" that closes the connection without answering
START_TIMEOUT = 10.0


def init_bare(path: Path) -> Path:
    subprocess.run(["git", "init", "--bare", "--quiet", str(path)], check=True)
    return path


@pytest.fixture
def bare_target(tmp_path: Path) -> Path:
    return init_bare(tmp_path / "target.git")


# --- git daemon


@dataclass
class GitDaemon:
    base_url: str
    root: Path

    def new_repository(self, name: str) -> tuple[str, Path]:
        return f"{self.base_url}/{name}", init_bare(self.root / name)


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    root = tmp_path / "daemon"
    root.mkdir()
    port = _free_port()
    log_path = tmp_path / "git-daemon.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--informative-errors",  # "no such repository" rather than a silent hang-up
                "--enable=receive-pack",
                f"--base-path={root}",
                "--listen=127.0.0.1",
                f"--port={port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its children (one per connection) are stopped with it
        )
    try:
        _wait_for_port(port, process, log_path)
        yield GitDaemon(f"git://127.0.0.1:{port}", root)
    finally:
        _stop(process)


# --- git http-backend behind WSGI


@dataclass
class GitHttp:
    base_url: str
    root: Path
    app: GitHttpApp
    username: str = HTTP_USER
    password: str = HTTP_PASSWORD

    def new_repository(self, name: str) -> tuple[str, Path]:
        return f"{self.base_url}/{name}", init_bare(self.root / name)

    def fail_next(self, count: int, status: int = 500) -> None:
        self.app.fail_next(count, status)

    def drop_next(self, count: int) -> None:
        """The next `count` connections are closed before an answer (a reset, to the client)."""
        self.app.fail_next(count, DROP)

    def watch_argv_for(self, secret: str) -> None:
        self.app.argv_secret = secret

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        return self.app.requests

    @property
    def argv_hits(self) -> list[str]:
        return self.app.argv_hits

    @property
    def chunked_requests(self) -> int:
        return self.app.chunked_requests


@dataclass
class GitHttpApp:
    """The WSGI application: faults, then authentication, then `git http-backend` as CGI."""

    root: Path
    username: str
    password: str
    log_path: Path
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    argv_secret: str | None = None
    argv_hits: list[str] = field(default_factory=list)
    chunked_requests: int = 0
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def take_drop(self) -> bool:
        with self._lock:
            if self._failures and self._failures[0] == DROP:
                self._failures.pop(0)
                self.requests.append(("?", "?", DROP))
                return True
            return False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if self.argv_secret is not None:
            self._look_for_secret_in_argv()
        with self._lock:
            injected = self._failures.pop(0) if self._failures else None
        if injected is not None:
            self.requests.append((method, path, injected))
            start_response(f"{injected} Injected Failure", [("Content-Type", "text/plain")])
            return [b"injected failure\n"]
        if not self._authorized(environ.get("HTTP_AUTHORIZATION", "")):
            self.requests.append((method, path, 401))
            start_response(
                "401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Basic realm="git"')]
            )
            return [b"authentication required\n"]
        return self._run_backend(environ, start_response, method, path)

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            pair = base64.b64decode(encoded.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return pair == f"{self.username}:{self.password}"

    def _run_backend(self, environ: dict[str, Any], start_response: Any, method: str, path: str) -> Iterable[bytes]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "REMOTE_USER": self.username,  # http-backend enables receive-pack for an authenticated user
            "REMOTE_ADDR": environ.get("REMOTE_ADDR", "127.0.0.1"),
        }
        if environ.get("CONTENT_LENGTH"):
            env["CONTENT_LENGTH"] = environ["CONTENT_LENGTH"]
        if environ.get("HTTP_CONTENT_ENCODING"):
            env["HTTP_CONTENT_ENCODING"] = environ["HTTP_CONTENT_ENCODING"]
        if environ.get("HTTP_GIT_PROTOCOL"):
            env["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        self.chunked_requests += chunked
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                ["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env
            )
        assert process.stdin is not None and process.stdout is not None
        feeder = threading.Thread(
            target=_feed_body,
            args=(environ["wsgi.input"], process.stdin, int(environ.get("CONTENT_LENGTH") or 0), chunked),
            daemon=True,
        )
        feeder.start()
        status, headers = _cgi_headers(process.stdout)
        self.requests.append((method, path, int(status.split()[0])))
        start_response(status, headers)
        return _stream_body(process, feeder)

    def _look_for_secret_in_argv(self) -> None:
        assert self.argv_secret is not None
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if self.argv_secret in argv:
                self.argv_hits.append(argv)


def _feed_body(source: Any, sink: Any, length: int, chunked: bool) -> None:
    try:
        pieces = _dechunk(source) if chunked else _read_exactly(source, length)
        for piece in pieces:
            sink.write(piece)
    except BrokenPipeError:
        pass  # the backend stopped reading: its answer says why
    finally:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def _read_exactly(source: Any, length: int) -> Iterator[bytes]:
    while length > 0:
        data = source.read(min(CHUNK, length))
        if not data:
            return
        length -= len(data)
        yield data


def _dechunk(source: Any) -> Iterator[bytes]:
    """An HTTP/1.1 chunked body: `<hex size>[;ext]CRLF <data> CRLF`, ..., `0` CRLF, trailers, CRLF."""
    while True:
        size = int(source.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while source.readline().strip():
                pass  # trailers
            return
        yield from _read_exactly(source, size)
        source.readline()  # the CRLF after the data


def _cgi_headers(stdout: Any) -> tuple[str, list[tuple[str, str]]]:
    status = "200 OK"
    headers: list[tuple[str, str]] = []
    while True:
        raw = stdout.readline()
        if not raw and not headers:
            return "502 Bad Gateway", [("Content-Type", "text/plain")]  # the backend died without a word
        line = raw.decode("latin-1").rstrip("\r\n")
        if not line:
            return status, headers
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = value.strip()
        else:
            headers.append((name.strip(), value.strip()))


def _stream_body(process: subprocess.Popen[bytes], feeder: threading.Thread) -> Iterator[bytes]:
    assert process.stdout is not None
    try:
        while data := process.stdout.read1(CHUNK):
            yield data
    finally:
        process.stdout.close()
        process.wait()
        feeder.join(timeout=10)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def handle(self) -> None:
        app = self.server.get_app()  # type: ignore[attr-defined]
        if isinstance(app, GitHttpApp) and app.take_drop():
            self.raw_requestline = self.rfile.readline(65537)
            self.connection.shutdown(socket.SHUT_RDWR)  # no status line: the client sees the connection die
            return
        super().handle()

    def log_message(self, format: str, *args: Any) -> None:  # the app keeps its own request list
        pass


@pytest.fixture
def git_http(tmp_path: Path) -> Iterator[GitHttp]:
    root = tmp_path / "http"
    root.mkdir()
    app = GitHttpApp(root, HTTP_USER, HTTP_PASSWORD, tmp_path / "http-backend.log")
    server = _ThreadingWSGIServer(("127.0.0.1", 0), _QuietHandler)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield GitHttp(f"http://127.0.0.1:{server.server_port}", root, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- the pre-receive guard

_GUARD = """#!/bin/sh
# Written by tests/git_servers.py: the target's own guard, refusing any pushed commit that touches an
# excluded path (git pathspecs), whatever the pusher checked before.
zero=0000000000000000000000000000000000000000
status=0
while read -r old new ref; do
    [ "$new" = "$zero" ] && continue
    git rev-parse --verify --quiet "$new^{{commit}}" >/dev/null || continue
    if [ "$old" = "$zero" ]; then
        touched=$(git log -m --name-only --format= "$new" --not --all -- {pathspecs} | sort -u)
    else
        touched=$(git log -m --name-only --format= "$old..$new" -- {pathspecs} | sort -u)
    fi
    if [ -n "$touched" ]; then
        echo "$touched" | while IFS= read -r path; do
            echo "excluded path refused in $ref: $path"
        done
        status=1
    fi
done
exit $status
"""


def install_pre_receive_guard(bare_repo: Path, excluded_pathspecs: list[str]) -> Path:
    hook = bare_repo / "hooks" / "pre-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(_GUARD.format(pathspecs=" ".join(shlex.quote(spec) for spec in excluded_pathspecs)))
    hook.chmod(0o755)
    return hook


# --- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"git daemon exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    _stop(process)
    raise RuntimeError(f"git daemon did not answer on port {port} within {START_TIMEOUT:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

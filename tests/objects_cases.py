"""Shared helpers for the object-copy tests: plans built in code, local source folders with the
manifest the demo writes, and an ObjectEvents that records what it is told."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.artifacts.ledger import ObjectsState
from migrator.plan.model import Plan
from tests.s3_local import REGION, Credentials

REPO = Path(__file__).resolve().parent.parent


def s3_settings(endpoint_url: str, creds: Credentials, **more: Any) -> dict[str, Any]:
    return {
        "endpoint_url": endpoint_url,
        "region": REGION,
        "access_key_id": creds.access_key,
        "secret_access_key": creds.secret_key,
        "addressing_style": "path",
        **more,
    }


def make_plan(
    source: str,
    target: str,
    artifacts: list[dict[str, Any]] | None = None,
    *,
    source_s3: dict[str, Any] | None = None,
    target_s3: dict[str, Any] | None = None,
    existing: str = "fail",
) -> Plan:
    source_side: dict[str, Any] = {"objects": source}
    target_side: dict[str, Any] = {"objects": target, "existing": existing}
    if source_s3:
        source_side["s3"] = source_s3
    if target_s3:
        target_side["s3"] = target_s3
    return Plan.model_validate(
        {
            "version": 1,
            "name": "objects-test",
            "source": source_side,
            "target": target_side,
            "artifacts": artifacts or [{"prefix": ""}],
        }
    )


def write_local_object(
    root: Path,
    key: str,
    data: bytes,
    metadata: dict[str, str] | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
    with_sha: bool = True,
) -> None:
    """A file and its line in `<root>/.migrator/objects.jsonl`, as the demo generator writes them."""
    path = root.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    line = {
        "key": key,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest() if with_sha else None,
        "metadata": metadata or {},
        "content_type": content_type,
        "headers": headers or {},
    }
    manifest = root / ".migrator" / "objects.jsonl"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with manifest.open("a", encoding="utf-8") as file:
        file.write(json.dumps(line, ensure_ascii=False) + "\n")


def blob(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that differ per seed and per 64 KiB block (so parts differ)."""
    block = hashlib.sha256(f"{seed}".encode()).digest() * 2048
    out = bytearray()
    n = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}-{n}".encode()).digest() + block[32:]
        n += 1
    return bytes(out[:size])


@dataclass
class Recorder:
    """ObjectEvents that remembers everything; `stop_after` parts/objects raises nothing (see tests)."""

    totals: tuple[int, int] | None = None
    done: list[tuple[str, int, str, str]] = field(default_factory=list)
    retries: list[tuple[str, str]] = field(default_factory=list)
    stops_checked: int = 0

    def started(self, objects: int, size: int) -> None:
        self.totals = (objects, size)

    def object_done(self, key: str, size: int, sha256: str, action: str) -> None:
        self.done.append((key, size, sha256, action))

    def flush(self) -> None:
        pass

    def retried(self, what: str, error: str) -> None:
        self.retries.append((what, error))

    def check_stop(self) -> None:
        self.stops_checked += 1

    def actions(self) -> dict[str, str]:
        return {key: action for key, _, _, action in self.done}


def files_under(root: Path) -> dict[str, bytes]:
    """Every object file under a local folder (not `.migrator/`), key -> bytes."""
    out = {}
    for folder, dirs, files in os.walk(root):
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if d != ".migrator"]
        for name in files:
            path = Path(folder) / name
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def kill_after_parts(
    tmp_path: Path,
    plan: Plan,
    key: str,
    parts: int,
    part_size: int,
    *,
    processes: int | None = None,
    watch: Callable[[int], None] | None = None,
) -> list[int]:
    """Run copy_objects in a child process (tests/objects_killable.py), SIGKILL it once `parts` parts
    of `key` are checkpointed, and give their numbers. `watch(pid)` is called while it waits (to
    note the child's own processes)."""
    args: dict[str, Any] = {
        "plan": plan.model_dump(mode="json", by_alias=True),
        "base_dir": str(tmp_path),
        "state_dir": str(tmp_path / "state"),
        "part_size": part_size,
    }
    if processes is not None:
        args["processes"] = processes
    written = tmp_path / "args.json"
    written.write_text(json.dumps(args))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-m", "tests.objects_killable", str(written)], cwd=REPO, env=env)
    state = ObjectsState(tmp_path / "state")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if watch is not None:
                watch(child.pid)
            record = state.upload(key)
            if record is not None and len(record.parts) >= parts:
                child.send_signal(signal.SIGKILL)
                break
            assert child.poll() is None, "the copy ended before it could be killed"
            time.sleep(0.02)
        else:
            raise AssertionError("no checkpointed parts within 60 s")
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    record = state.upload(key)
    assert record is not None
    return sorted(part.number for part in record.parts)

"""Where a rewrite's new objects go: into the repository as pack files, or nowhere (ids only).

`PackSink` and `MemorySink` return the same ids for the same objects, so the dry run and verify's
replay (`MemorySink`) name exactly the commits a sync writes (`PackSink`).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from migrator.audit.durable import write_atomically
from migrator.stores.git.objects import object_id

if TYPE_CHECKING:
    from migrator.stores.git.objects import GitObjects


class MemorySink:
    """Only hashes objects: the ids a PackSink would write them under, nothing written."""

    def write(self, kind: int, data: bytes) -> bytes:
        return object_id(kind, data)

    def close(self) -> None:
        pass


class PackSink:
    """Writes objects into the repository as pack files (each `flush_bytes` of objects, and at close).

    A rewrite makes tens of thousands of small objects: one loose file each (what libgit2's odb.write
    does) costs a file creation and its directory entry apiece, most of a first sync's time. A pack
    is two files. Nothing is visible until `close()` (or a flush): the rewrite closes its sink only
    when it has finished, so an interrupted rewrite leaves at most whole, unreferenced packs behind.
    """

    def __init__(self, objects: GitObjects, flush_bytes: int = 64 << 20):
        self._objects = objects
        self._pending: dict[bytes, tuple[int, bytes]] = {}
        self._pending_bytes = 0
        self._flush_bytes = flush_bytes

    def write(self, kind: int, data: bytes) -> bytes:
        oid = object_id(kind, data)
        if oid not in self._pending:
            self._pending[oid] = (kind, data)
            self._pending_bytes += len(data)
            if self._pending_bytes >= self._flush_bytes:
                self.close()
        return oid

    def close(self) -> None:
        if self._pending:
            write_pack(self._objects.path / "objects" / "pack", self._pending)
        self._pending = {}
        self._pending_bytes = 0


def _pack_header(kind: int, size: int) -> bytes:
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def write_pack(directory: Path, objects: dict[bytes, tuple[int, bytes]]) -> Path:
    """Write `objects` (id -> (type, raw bytes)) as one pack (no deltas) and its version-2 index; the
    index is renamed into place last, so readers see the whole pack or none of it."""
    directory.mkdir(parents=True, exist_ok=True)
    chunks = [b"PACK", struct.pack(">II", 2, len(objects))]
    offset = 12
    offsets: dict[bytes, tuple[int, int]] = {}
    for oid, (kind, data) in objects.items():
        packed = _pack_header(kind, len(data)) + zlib.compress(data, 1)
        offsets[oid] = (offset, zlib.crc32(packed))
        chunks.append(packed)
        offset += len(packed)
    body = b"".join(chunks)
    pack_sum = hashlib.sha1(body).digest()
    order = sorted(objects)
    fanout = [0] * 256
    for oid in order:
        fanout[oid[0]] += 1
    running = 0
    for index in range(256):
        running += fanout[index]
        fanout[index] = running
    small: list[int] = []
    large: list[int] = []
    for oid in order:
        position = offsets[oid][0]
        if position < 0x80000000:
            small.append(position)
        else:
            small.append(0x80000000 | len(large))
            large.append(position)
    index_body = b"".join(
        [
            b"\xfftOc",
            struct.pack(">I", 2),
            struct.pack(">256I", *fanout),
            *order,
            struct.pack(f">{len(order)}I", *(offsets[oid][1] for oid in order)),
            struct.pack(f">{len(order)}I", *small),
            struct.pack(f">{len(large)}Q", *large),
            pack_sum,
        ]
    )
    index_data = index_body + hashlib.sha1(index_body).digest()
    name = f"pack-{pack_sum.hex()}"
    _write_file(directory / f"{name}.pack", body + pack_sum)
    _write_file(directory / f"{name}.idx", index_data)
    return directory / f"{name}.pack"


def _write_file(path: Path, data: bytes) -> None:
    """Whole or not at all (a reader never sees half a pack), then read-only, as git leaves its packs."""
    write_atomically(path, data)
    path.chmod(0o444)

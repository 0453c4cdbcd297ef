"""What a finished target holds, as digests that two targets can be compared by: each table's rows
and checksum (as `migrator verify` computes them), each object's key and SHA-256, the flags file's
digest, each repository's refs and the ids they point at."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from migrator.engine.parts.codebase import units_of
from migrator.engine.results import VerifyResult
from migrator.plan.load import LoadedPlan
from migrator.stores.objects.open import open_store


@dataclass
class TargetDigest:
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> rows, checksum, method
    objects: dict[str, str] = field(default_factory=dict)  # key -> SHA-256
    flags: str | None = None
    refs: dict[str, dict[str, str]] = field(default_factory=dict)  # repository -> ref -> id


def target_digest(loaded: LoadedPlan, verified: VerifyResult) -> TargetDigest:
    """The digests of the target a rehearsal plan names; the tables' and flags' from its verification."""
    plan = loaded.plan
    digest = TargetDigest()
    for name, table in verified.tables.items():
        digest.tables[name] = {"rows": table.rows, "checksum": table.checksum, "method": table.method}
    if plan.copies_objects and plan.target.objects:
        store = open_store(plan.target.objects, plan.target.s3, loaded.base_dir)
        for info in store.list():
            digest.objects[info.key] = info.sha256 or store.hash_object(info.key) or _read_hash(store, info.key)
    if plan.copies_flags and verified.flags:
        digest.flags = verified.flags.get("digest")
    if plan.copies_codebase:
        for unit in units_of(loaded):
            digest.refs[unit.rules.target_name] = unit.target.list_refs()
    return digest


def _read_hash(store: Any, key: str) -> str:
    sha = hashlib.sha256()
    for block in store.read(key):
        sha.update(block)
    return sha.hexdigest()


@dataclass(frozen=True)
class Difference:
    part: str  # tables | objects | flags | codebase
    name: str  # the table, "objects", "flags", the repository
    ok: bool
    detail: str


def compare(resumed: TargetDigest, uninterrupted: TargetDigest) -> list[Difference]:
    """One comparison per table, and one for the objects, the flags and each repository."""
    found: list[Difference] = []
    for name in sorted(set(resumed.tables) | set(uninterrupted.tables)):
        a, b = resumed.tables.get(name), uninterrupted.tables.get(name)
        if a is None or b is None:
            found.append(Difference("tables", name, False, "in one target only"))
        elif a["method"] != b["method"]:  # two dialects digest differently: the rows are what compares
            same = a["rows"] == b["rows"]
            found.append(
                Difference(
                    "tables", name, same, f"{a['rows']} and {b['rows']} rows ({a['method']} vs {b['method']} digests)"
                )
            )
        else:
            same = a["rows"] == b["rows"] and a["checksum"] == b["checksum"]
            detail = f"{a['rows']} rows, checksum {a['checksum']}"
            if not same:
                detail = f"resumed: {detail}; uninterrupted: {b['rows']} rows, checksum {b['checksum']}"
            found.append(Difference("tables", name, same, detail))
    if resumed.objects or uninterrupted.objects:
        found.append(_objects(resumed.objects, uninterrupted.objects))
    if resumed.flags is not None or uninterrupted.flags is not None:
        same = resumed.flags == uninterrupted.flags
        found.append(
            Difference(
                "flags",
                "flags",
                same,
                f"digest {resumed.flags}" if same else f"digests {resumed.flags} and {uninterrupted.flags}",
            )
        )
    for name in sorted(set(resumed.refs) | set(uninterrupted.refs)):
        a_refs, b_refs = resumed.refs.get(name, {}), uninterrupted.refs.get(name, {})
        differing = sorted(r for r in set(a_refs) | set(b_refs) if a_refs.get(r) != b_refs.get(r))
        detail = (
            f"{len(a_refs)} refs at the same ids" if not differing else f"refs that differ: {', '.join(differing[:5])}"
        )
        found.append(Difference("codebase", name, not differing, detail))
    return found


def _objects(a: dict[str, str], b: dict[str, str]) -> Difference:
    differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if not differing:
        manifest = hashlib.sha256("".join(f"{k}\t{a[k]}\n" for k in sorted(a)).encode()).hexdigest()
        return Difference("objects", "objects", True, f"{len(a)} objects, manifest SHA-256 {manifest}")
    return Difference("objects", "objects", False, f"{len(differing)} objects differ: {', '.join(differing[:5])}")

"""Isolation guards for objects (SPEC §5): the target may not be the source, nor overlap it.

Two locations overlap when they are on the same store (the same folder tree after resolving symlinks
and `..`; the same bucket on the same endpoint) and one root lies inside the other: the same folder, a
folder inside the other, `s3://b/models/` and `s3://b/models/us/`, or a whole bucket and any prefix of
it. A copy into an overlapping target would read what it writes, and could overwrite or delete
(`existing: truncate`) the source's objects.

That the source is only read is kept by construction: the copier holds the source as an `ObjectStore`
(list, head, read) and only the target as a `WritableObjectStore`; mypy refuses any write call on it.
"""

from __future__ import annotations

from migrator.stores.objects.base import ObjectStore


def overlap_refusal(source: ObjectStore, target: ObjectStore) -> str | None:
    if source.place.overlaps(target.place):
        same = source.place == target.place
        how = "is the source" if same else "overlaps the source (one location lies inside the other)"
        return (
            f"target objects location {target.location} {how} {source.location}: "
            "choose a target folder or bucket prefix apart from the source"
        )
    return None

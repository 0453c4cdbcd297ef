"""Ancestry among target commits while they are being made, without reading the target back.

Trimming a merge's parents asks whether one image is an ancestor of another. The images this run
made are known from their parents alone (in the dry run and verify's replay nothing is written, so
the repository could not answer); images from earlier runs are in the repository, which answers for
them. Generation numbers (one more than the highest parent's) stop a search early: an image can only
be an ancestor of images with a higher generation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.errors import PermanentError
from migrator.stores.git.objects import MissingObject

if TYPE_CHECKING:
    from migrator.stores.git.objects import GitObjects


class ImageGraph:
    def __init__(self, objects: GitObjects):
        self.objects = objects
        self.parents: dict[bytes, list[bytes]] = {}  # this run's images only
        self.generation: dict[bytes, int] = {}  # earlier images count as 0: never below a new one

    def add(self, image: bytes, parents: list[bytes]) -> None:
        self.parents[image] = parents
        self.generation[image] = 1 + max((self.generation.get(p, 0) for p in parents), default=0)

    def is_ancestor(self, ancestor: bytes, descendant: bytes) -> bool:
        floor = self.generation.get(ancestor)  # None: an earlier run's image
        stack = [descendant]
        seen: set[bytes] = set()
        while stack:
            node = stack.pop()
            if node == ancestor:
                return True
            if node in seen:
                continue
            seen.add(node)
            parents = self.parents.get(node)
            if parents is not None:
                if floor is None or self.generation[node] > floor:
                    stack.extend(parents)
            elif floor is None and self._earlier_is_ancestor(ancestor, node):
                return True  # both from earlier runs: the repository holds them
            # An earlier run's image cannot reach one made in this run.
        return False

    def _earlier_is_ancestor(self, ancestor: bytes, descendant: bytes) -> bool:
        try:
            return self.objects.is_ancestor(ancestor, descendant)
        except MissingObject as missing:
            raise PermanentError(
                f"{missing}: it is a target commit of an earlier sync, needed to place this sync's merges; "
                f"keep the local repository between syncs, or fetch the target's refs into it first"
            ) from None

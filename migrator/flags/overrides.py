"""`set`: per-target overrides merged into a flag definition."""

from __future__ import annotations

import copy
from typing import Any

from migrator.flags.errors import FlagsError

# The parts of a flag an override may touch (flagd's flag definition). Anything else is most likely a typo
# of one of these, and flagd would ignore or reject it.
OVERRIDABLE = ("state", "defaultVariant", "variants", "metadata", "targeting")


def merge_patch(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)  # `base` may be no object at all
    return merged


def apply_override(key: str, flag: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    for field in override:
        if field not in OVERRIDABLE:
            raise FlagsError(
                f"flags.set.{key}: {field!r} is not a part of a flag an override can set "
                f"(one of: {', '.join(OVERRIDABLE)})",
                flag=key,
                path=f"flags.set.{key}.{field}",
            )
    merged = merge_patch(flag, {k: v for k, v in override.items() if k != "targeting"})
    # Targeting is a JSONLogic rule: merging two rules key by key makes a two-operator object, which is no
    # rule at all. An override's targeting replaces the source's whole (null removes it).
    if "targeting" in override:
        if override["targeting"] is None:
            merged.pop("targeting", None)
        else:
            merged["targeting"] = copy.deepcopy(override["targeting"])
    return merged

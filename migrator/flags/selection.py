"""Which source flags are copied, under which key: include/exclude globs, rename, prefix."""

from __future__ import annotations

from fnmatch import fnmatchcase

from migrator.flags.errors import FlagsError
from migrator.plan.model import FlagsSection


def is_selected(key: str, rules: FlagsSection) -> bool:
    """Glob match on the whole key (`*` crosses dots: flag keys are names, not paths). No include: all."""
    included = not rules.include or any(fnmatchcase(key, pattern) for pattern in rules.include)
    return included and not any(fnmatchcase(key, pattern) for pattern in rules.exclude)


def target_keys(keys: list[str], rules: FlagsSection) -> dict[str, str]:
    """Source key -> target key for the selected flags. A rename or an override naming a flag that is not
    copied is refused (a typo would otherwise pass silently), as are two flags landing on one key."""
    selected = [key for key in keys if is_selected(key, rules)]
    for section, named in (("rename", rules.rename), ("set", rules.set)):
        for key in named:
            if key not in selected:
                where = "is not in the source" if key not in keys else "is excluded by include/exclude"
                raise FlagsError(
                    f"flags.{section}: flag {key!r} {where}; {section} names source flag keys that are copied",
                    flag=key,
                    path=f"flags.{section}.{key}",
                )
    mapping = {key: rules.prefix + rules.rename.get(key, key) for key in selected}
    seen: dict[str, str] = {}
    for source, target in mapping.items():
        if target in seen:
            raise FlagsError(
                f"flags {seen[target]!r} and {source!r} would both become {target!r} in the target",
                flag=source,
                path=f"flags.{source}",
            )
        seen[target] = source
    return mapping

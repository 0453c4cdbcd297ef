"""Top functions of a py-spy profile in its raw (collapsed stacks) format, by cumulative share.

    py-spy record --idle --nonblocking --format raw -o prof.txt -- python -m migrator run PLAN
    python bench/profile_top.py prof.txt [--top 25]

With --idle the samples include time spent waiting (on the database, on the disk), so the shares are of
wall time. `cumulative` counts the samples in which a function is anywhere on the stack, `self` those in
which it is the innermost frame.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def _name(frame: str) -> str:
    """`function (path/to/module.py:123)` -> `function (module.py)`: lines of one function merged."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    parts = Path(match["file"]).parts
    where = "/".join(parts[-2:]) if len(parts) >= 2 else match["file"]
    return f"{match['function']} ({where})"


def top(lines: Sequence[str], limit: int) -> tuple[int, list[tuple[str, int, int]]]:
    cumulative: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        match = _LINE.match(line.rstrip("\n"))
        if not match:
            continue
        count = int(match["count"])
        frames = [_name(f) for f in match["stack"].split(";") if f]
        # py-spy puts the thread (and process) name first; they are not functions.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        for name in set(frames):
            cumulative[name] += count
        own[frames[-1]] += count
    ranked = [(name, cumulative[name], own[name]) for name, _ in cumulative.most_common(limit)]
    return total, ranked


def render(total: int, ranked: list[tuple[str, int, int]]) -> str:
    lines = [f"{total} samples", f"{'cumulative':>10} {'self':>6}  function"]
    for name, cumulative, own in ranked:
        lines.append(f"{cumulative / total * 100:9.1f}% {own / total * 100:5.1f}%  {name}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy output in --format raw")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    total, ranked = top(args.profile.read_text(encoding="utf-8").splitlines(), args.top)
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    print(render(total, ranked))
    return 0


if __name__ == "__main__":
    sys.exit(main())

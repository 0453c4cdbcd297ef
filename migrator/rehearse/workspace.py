"""The rehearsal's own plan file: the user's plan with its target sides and state folder replaced by
throwaway ones (or by the services given on the command line), its source paths made absolute, and,
with `--sample`, its roots narrowed. Nothing of the real target or the real state folder is named in
it, so nothing of them can be touched.

The file is written from the plan as loaded, `${VAR}`s already expanded: it lives in a folder only
its owner can read (mkdtemp's 0700), with mode 0600, and goes with the folder unless `--keep`.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from migrator.errors import PlanError, Problem
from migrator.plan.load import LoadedPlan, load_plan
from migrator.plan.yaml_source import Path_, read_yaml

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # a plan's ${NAME}, as yaml_source.py reads it


@dataclass(frozen=True)
class Overrides:
    """Real services to rehearse against instead of the throwaway ones; None: throwaway."""

    database: str | None = None
    objects: str | None = None
    flags: str | None = None
    codebase: str | None = None


@dataclass(frozen=True)
class Workspace:
    """One rehearsal target: its folder, its plan file and the plan loaded from it."""

    folder: Path
    plan_file: Path
    loaded: LoadedPlan


def unset_target_variables(file: Path) -> dict[str, str]:
    """The environment, with a placeholder for each unset `${VAR}` that only the plan's `target` names:
    a rehearsal replaces the target, so a CI job need not set the real target's URL or credentials."""
    source, _ = read_yaml(file)
    lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
    placeholders: dict[str, str] = {}
    for path in source.unset:
        line = source.line_of(path)
        if path[:1] == ("target",) and line is not None:
            for name in _VARIABLE.findall(lines[line - 1]):
                if name not in os.environ:
                    # a value of the right form for its key (a URL for a database), never used
                    placeholder = f"unset-{name}-replaced-by-the-rehearsal"
                    is_url = path[1:2] == ("database",)
                    placeholders[name] = f"sqlite:///{placeholder}.db" if is_url else placeholder
    return {**os.environ, **placeholders}


def throwaway_target(folder: Path, plan: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    """The plan's `target`, every location it names replaced. The side's `s3`/`git` settings stay
    only for a location the command line gave: a throwaway folder needs none."""
    original = plan.get("target") or {}
    target: dict[str, Any] = {"existing": original.get("existing", "fail")}
    throwaway = {
        "database": f"sqlite:///{folder / 'target.db'}",
        "objects": str(folder / "objects"),
        "flags": str(folder / "flags.flagd.json"),
        "codebase": str(folder / "git"),
    }
    for kind, default in throwaway.items():
        if original.get(kind) is None:
            continue
        given = getattr(overrides, kind)
        target[kind] = _from_cwd(given, database=kind == "database") if given else default
    if (overrides.objects or overrides.flags) and "s3" in original:
        target["s3"] = original["s3"]
    if overrides.codebase and "git" in original:
        target["git"] = original["git"]
    return target


def rehearsal_data(loaded: LoadedPlan, folder: Path, overrides: Overrides) -> dict[str, Any]:
    """The plan as data, ready to be written beside its throwaway target."""
    data: dict[str, Any] = copy.deepcopy(loaded.source.data)
    base = loaded.base_dir
    source = data.get("source") or {}
    for kind in ("database", "objects", "flags", "codebase"):
        if isinstance(source.get(kind), str):
            source[kind] = _absolute(source[kind], base, database=kind == "database")
    data["target"] = throwaway_target(folder, data, overrides)
    data["state"] = str(folder / "state")
    return data


def write_plan(folder: Path, data: dict[str, Any], original: LoadedPlan) -> Workspace:
    """Write and load the rehearsal's plan. A problem found in it is reported at the line of the
    user's plan that holds the same key: that is the line to change."""
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "plan.yaml"
    header = f"# written by `migrator rehearse` from {original.file}; its targets are throwaway\n"
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    with in_the_users_plan(original):
        loaded = load_plan(file)
    return Workspace(folder, file, loaded)


class in_the_users_plan:
    """Turn a PlanError about the rehearsal's plan file into one about the user's plan file."""

    def __init__(self, original: LoadedPlan):
        self.original = original

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: BaseException | None, tb: object) -> Literal[False]:
        if isinstance(value, PlanError) and any(p.file != str(self.original.source.file) for p in value.problems):
            raise PlanError([relocated(p, self.original) for p in value.problems]) from value
        return False


def relocated(problem: Problem, original: LoadedPlan) -> Problem:
    path = key_path(problem.key)
    return Problem(original.source.file, original.line_of(*path), problem.key, problem.message, problem.hint)


def key_path(dotted: str) -> Path_:
    """'data.relations[0].from' -> ('data', 'relations', 0, 'from'): the inverse of yaml_source.dotted,
    for the plan's own keys (a table name with a dot in it is found at its parent's line)."""
    path: list[str | int] = []
    for part in dotted.split(".") if dotted else []:
        name, *indexes = part.split("[")
        if name:
            path.append(name)
        path.extend(int(i.rstrip("]")) for i in indexes if i.rstrip("]").isdigit())
    return tuple(path)


def _absolute(location: str, base: Path, *, database: bool) -> str:
    """A location relative to the plan's folder, as one that means the same from anywhere."""
    if database:
        return _absolute_sqlite(location, base)
    if "://" in location:
        return location
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _absolute_sqlite(url: str, base: Path) -> str:
    scheme, separator, rest = url.partition(":///")
    if not separator or not scheme.startswith("sqlite"):
        return url
    database, question, query = rest.partition("?")
    if not database or database == ":memory:" or database.startswith("/"):
        return url
    return f"{scheme}:///{(base / database).resolve()}{question}{query}"


def _from_cwd(location: str, *, database: bool) -> str:
    """A location given on the command line: relative to where the command runs."""
    return _absolute(location, Path.cwd(), database=database)

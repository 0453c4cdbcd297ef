"""A finished plan, run again: answered from the target's ledger before anything heavy is imported.

Re-running a finished plan must do no work (SPEC §4, §9). The full path of `run` knows this too,
but only after importing SQLAlchemy, pydantic and sqlglot, checking the plan and opening the target
through SQLAlchemy: about 0.6 s to read one row of the ledger, a seventh of a whole run at the
benchmark's scale 1. This asks for the same row with the database's own driver
(stores/sql/quick_ledger.py), from nothing but the plan file's YAML and bytes.

It can answer only "finished" or "don't know". Whatever it does not read simply (a URL with a
query or unusual characters, a MySQL target, a plan with problems, a signing key to check, a
driver error) makes it step aside for the full path, which asks the same question after every
check. It says "finished" only where the full path would: the target's ledger holds this plan's
run as finished, made from a file with this very SHA-256.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from migrator.engine.results import RunResult
from migrator.engine.state import write_run_record
from migrator.plan.paths import state_dir
from migrator.plan.yaml_source import read_yaml
from migrator.stores.sql.quick_ledger import postgresql_run_row, sqlite_run_row
from migrator.variables import SIGNING_KEY_VARIABLE  # the full path checks the key first

ALREADY_FINISHED = "this plan already ran to the end against this target: nothing to do"
_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*")  # parts that SQLAlchemy writes back exactly as given
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.\-/]+")


@dataclass(frozen=True)
class _Database:
    """What a simple SQLAlchemy URL points at, and how `migrator` shows it (password hidden)."""

    backend: str  # postgresql | sqlite
    shown: str
    database: str
    user: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None


def nothing_to_do(plan: str, run_id: str, target: str) -> RunResult:
    return RunResult(plan, run_id, "already-finished", [], 0.0, target, ALREADY_FINISHED)


def already_finished(plan_file: Path, environ: Mapping[str, str]) -> RunResult | None:
    """The no-op result when this plan file already ran to the end against its target, recorded in
    the state folder as `run_plan` records it; None when that is not so, or not known without the
    full path."""
    if environ.get(SIGNING_KEY_VARIABLE):
        return None
    try:
        sha256 = hashlib.sha256(plan_file.read_bytes()).hexdigest()
    except OSError:
        return None
    source, problems = read_yaml(plan_file, environ)
    data = source.data
    if problems or not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    if "artifacts" in data or "flags" in data:
        return None  # the target's ledger knows the tables, not the objects or flags: the full path asks each part
    plan_dir = plan_file.resolve().parent
    target = _database(_section(data, "target"), plan_dir, must_exist=True)
    origin = _database(_section(data, "source"), plan_dir)  # never opened: a finished plan needs no source
    if target is None or origin is None or _may_be_the_same(origin, target):
        return None  # the full path refuses a target that is the source, with its own message
    try:
        row = _ledger_row(target, data["name"])
    except Exception:  # any failure here only means: ask the full path
        return None
    if row is None or row[1] != "finished" or row[2] != sha256:
        return None
    result = nothing_to_do(data["name"], str(row[0]), target.shown)
    state = data.get("state")
    write_run_record(state_dir(plan_dir, state if isinstance(state, str) else None, data["name"]), result, sha256)
    return result


def _section(data: dict[str, Any], side: str) -> Any:
    section = data.get(side)
    return section.get("database") if isinstance(section, dict) else None


def _database(url: Any, plan_dir: Path, *, must_exist: bool = False) -> _Database | None:
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        return None
    if parts.scheme in ("sqlite", "sqlite+pysqlite"):
        return _sqlite(parts.scheme, url, plan_dir, must_exist)
    if parts.scheme != "postgresql+psycopg":
        return None
    database = parts.path.removeprefix("/")
    login, _, address = parts.netloc.rpartition("@")
    user, has_password, password = login.partition(":")
    host, _, port = address.partition(":")
    plain = (unquote(user), host, port, database)
    if not database or "[" in address or "@" in login or not all(_PLAIN.fullmatch(part) for part in plain):
        return None  # an IPv6 address, or a spelling SQLAlchemy may read or write back otherwise
    if port and not port.isdigit():
        return None
    shown_login = f"{unquote(user)}{':***' if has_password else ''}@" if login else ""
    shown = f"{parts.scheme}://{shown_login}{address}/{database}"
    return _Database(
        "postgresql",
        shown,
        database,
        unquote(user) or None,
        unquote(password) if has_password else None,
        host or None,
        int(port) if port else None,
    )


def _sqlite(scheme: str, url: str, plan_dir: Path, must_exist: bool) -> _Database | None:
    path = url.removeprefix(f"{scheme}:///")
    if path == url or not _PLAIN_PATH.fullmatch(path) or path == ":memory:":
        return None
    file = Path(path) if Path(path).is_absolute() else (plan_dir / path).resolve()
    return _Database("sqlite", f"{scheme}:///{file}", str(file)) if file.is_file() or not must_exist else None


def _may_be_the_same(a: _Database, b: _Database) -> bool:
    """Cautious: two PostgreSQL databases of one name may be one server reached by two names."""
    return a.backend == b.backend and a.database == b.database


def _ledger_row(target: _Database, plan: str) -> tuple[Any, ...] | None:
    if target.backend == "sqlite":
        return sqlite_run_row(target.database, plan)
    return postgresql_run_row(
        plan, target.database, user=target.user, password=target.password, host=target.host, port=target.port
    )

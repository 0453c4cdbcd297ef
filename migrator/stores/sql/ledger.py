"""The checkpoint ledger, kept in the target database itself.

A unit's rows and its "done" mark are written in the same target transaction (SPEC §5), so after a
crash at any instant the ledger says exactly which units are in the target: never a unit marked
done whose rows are missing, never rows without their mark. Everything is keyed by the plan name,
so two plans may share a target database without reading each other's progress.

Exactly once, whoever runs the unit (a thread, a process, a Dask worker that may be re-run after
its result was lost): a unit's transaction first checks the run fence (`fence`: the run row read
FOR SHARE, so a unit of an older run is refused and a resume that takes the row FOR UPDATE waits
for the units in flight), then claims its ledger row (`claim`: an insert that does nothing on a
conflict; a second claimer waits for the first to commit or roll back), then writes its rows, then
its mark (`settle`), then commits. No claim means another transaction committed the unit: roll back.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from migrator.clock import utc_now
from migrator.errors import PermanentError

metadata = sa.MetaData()
runs = sa.Table(
    "_migrator_runs",
    metadata,
    sa.Column("plan", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("plan_sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # running | finished
    sa.Column("created_tables", sa.Text, nullable=False),  # JSON list: what --restart may drop
    sa.Column("existing", sa.String(20), nullable=False),  # target.existing when the run started
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
)
units = sa.Table(
    "_migrator_units",
    metadata,
    sa.Column("plan", sa.String(200), primary_key=True),
    # "table:NAME:CHUNK" | "fixup:NAME:CHUNK" | "complete:NAME:0" | "range:NAME:R" | "range-done:NAME:R"
    sa.Column("unit", sa.String(400), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("last_key", sa.Text),  # JSON: the unit's highest key, where the next unit starts
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("checksum", sa.String(80)),  # the unit's digest: "METHOD:HEX", summed per table at the end
    sa.Column("done_at", sa.String(40), nullable=False),
    # JSON [lower, upper] of a key range [lower, upper) (values tagged as in last_key, null: open):
    # a table's range ("range:NAME:R") and each chunk committed in it. Added by `ensure` to a ledger
    # made before it; null for the units of a table copied as one range.
    sa.Column("bounds", sa.Text),
)
# What a finished run's verification needs besides the target and the units' digests (the tables'
# columns and keys, the references, the skipped tables), so that `verify` can check the target
# without the source. A table of its own, so that ledgers written before it only lack its rows.
manifests = sa.Table(
    "_migrator_manifests",
    metadata,
    sa.Column("plan", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),  # JSON
)
# Which client drives the run now (--executor dask): a client that takes a run over writes a new
# attempt here, and the units of the clients before it (stragglers on the workers) are fenced off.
# A table of its own, made by the clients that need it, so that other ledgers stay as they were.
fences = sa.Table(
    "_migrator_fences",
    sa.MetaData(),
    sa.Column("plan", sa.String(200), primary_key=True),
    sa.Column("attempt", sa.String(64), nullable=False),
)
LEDGER_TABLES = (runs.name, units.name, manifests.name, fences.name)


@dataclass(frozen=True)
class RunRow:
    run_id: str
    plan_sha256: str
    status: str
    created_tables: list[str]
    existing: str


@dataclass(frozen=True)
class Progress:
    """Where a table's copy stands: chunks done, rows done, and the key to continue after."""

    chunks: int
    rows: int
    last_key: tuple[Any, ...] | None
    checksums: tuple[str, ...] = ()  # of every unit so far, "METHOD:HEX"


def ensure(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)
    columns = {c["name"] for c in sa.inspect(conn).get_columns(units.name)}
    if "bounds" not in columns:  # a ledger of a version before key ranges
        preparer = conn.dialect.identifier_preparer
        conn.exec_driver_sql(f"ALTER TABLE {preparer.format_table(units)} ADD COLUMN bounds TEXT")


def exists(conn: Connection) -> bool:
    return sa.inspect(conn).has_table(runs.name)


class FencedError(PermanentError):
    """A unit of a run that is no longer the plan's run (restarted, or resumed under a new id)."""


def current_run(conn: Connection, plan: str, *, take: bool = False) -> RunRow | None:
    """The plan's run row; with `take`, locked FOR UPDATE until the transaction ends: a resume takes
    it before it reads the ledger, so that the units in flight (holding it FOR SHARE) commit first."""
    if not exists(conn):
        return None
    query = sa.select(runs).where(runs.c.plan == plan)
    row = conn.execute(query.with_for_update() if take else query).mappings().first()
    if row is None:
        return None
    return RunRow(row["run_id"], row["plan_sha256"], row["status"], json.loads(row["created_tables"]), row["existing"])


def finished_run(conn: Connection, plan: str, sha: str) -> RunRow | None:
    """The plan's run, if it ran to the end from this very plan file (its SHA-256)."""
    run = current_run(conn, plan)
    return run if run is not None and run.status == "finished" and run.plan_sha256 == sha else None


def finished_run_at(target_url: URL, plan: str, sha: str) -> RunRow | None:
    """`finished_run` in a target not yet opened; None also when it cannot be asked (an unreachable
    target is reported by the full path, after its safety checks)."""
    from migrator.stores.sql import connect

    engine = connect.open_target(target_url, create=False)
    try:
        with engine.connect() as conn:
            return finished_run(conn, plan, sha)
    except DBAPIError:
        return None
    finally:
        engine.dispose()


def start_run(conn: Connection, plan: str, run_id: str, sha: str, created: list[str], existing: str) -> None:
    conn.execute(sa.delete(runs).where(runs.c.plan == plan))
    conn.execute(
        sa.insert(runs).values(
            plan=plan,
            run_id=run_id,
            plan_sha256=sha,
            status="running",
            created_tables=json.dumps(created),
            existing=existing,
            started_at=utc_now(),
        )
    )


def add_created_tables(conn: Connection, plan: str, created: list[str]) -> None:
    row = current_run(conn, plan)
    if row is not None and created:
        merged = sorted(set(row.created_tables) | set(created))
        conn.execute(sa.update(runs).where(runs.c.plan == plan).values(created_tables=json.dumps(merged)))


def finish_run(conn: Connection, plan: str, run_id: str, manifest: dict[str, Any]) -> None:
    conn.execute(sa.update(runs).where(runs.c.plan == plan).values(status="finished", finished_at=utc_now()))
    conn.execute(sa.delete(manifests).where(manifests.c.plan == plan))
    conn.execute(sa.insert(manifests).values(plan=plan, run_id=run_id, manifest=json.dumps(manifest)))


def manifest(conn: Connection, plan: str, run_id: str) -> dict[str, Any] | None:
    """What the plan's finished run `run_id` recorded for its verification, if it recorded it."""
    if not sa.inspect(conn).has_table(manifests.name):
        return None
    text = conn.execute(
        sa.select(manifests.c.manifest).where(manifests.c.plan == plan, manifests.c.run_id == run_id)
    ).scalar_one_or_none()
    return None if text is None else dict(json.loads(text))


def forget(conn: Connection, plan: str) -> None:
    if exists(conn):
        conn.execute(sa.delete(units).where(units.c.plan == plan))
        conn.execute(sa.delete(runs).where(runs.c.plan == plan))
        if sa.inspect(conn).has_table(manifests.name):
            conn.execute(sa.delete(manifests).where(manifests.c.plan == plan))
        if sa.inspect(conn).has_table(fences.name):
            conn.execute(sa.delete(fences).where(fences.c.plan == plan))


def progress(conn: Connection, plan: str, kind: str, table: str, chunks: tuple[int, int] | None = None) -> Progress:
    """The table's units of `kind`; with `chunks` (first, end), only those numbered first <= N < end."""
    rows = _units_in_order(conn, plan, kind, table)
    if chunks is not None:
        rows = [r for r in rows if chunks[0] <= int(r.unit.rsplit(":", 1)[1]) < chunks[1]]
    if not rows:
        return Progress(0, 0, None)
    key = decode_key(rows[-1].last_key) if rows[-1].last_key else None
    checksums = tuple(r.checksum for r in rows if r.checksum)
    return Progress(len(rows), sum(r.rows for r in rows), key, checksums)


def chunk_ends(conn: Connection, plan: str, table: str) -> list[tuple[Any, ...] | None]:
    """The last key of each of a table's chunks, in chunk order: the bounds the chunks' digests
    were taken between."""
    return [decode_key(r.last_key) if r.last_key else None for r in _units_in_order(conn, plan, "table", table)]


def _units_in_order(conn: Connection, plan: str, kind: str, table: str) -> list[sa.Row]:  # type: ignore[type-arg]
    """The plan's units "KIND:TABLE:N", in the order of N."""
    prefix = f"{kind}:{table}:"
    rows = conn.execute(
        sa.select(units.c.unit, units.c.run_id, units.c.rows, units.c.last_key, units.c.checksum).where(
            units.c.plan == plan, units.c.unit.startswith(prefix, autoescape=True)
        )
    ).all()
    return sorted(rows, key=lambda r: int(r.unit.rsplit(":", 1)[1]))


@dataclass(frozen=True)
class UnitMark:
    chunk: int
    run_id: str
    rows: int
    checksum: str | None


def unit_marks(conn: Connection, plan: str, kind: str, table: str) -> list[UnitMark]:
    """The marks of a table's units "KIND:TABLE:N", in the order of N: what the ledger says was
    committed, for the audit trail's reconciliation with it."""
    return [
        UnitMark(int(r.unit.rsplit(":", 1)[1]), r.run_id, r.rows, r.checksum)
        for r in _units_in_order(conn, plan, kind, table)
    ]


def tables_written(conn: Connection, plan: str) -> set[str]:
    if not exists(conn):
        return set()
    names = conn.execute(sa.select(units.c.unit).where(units.c.plan == plan)).scalars()
    return {name.split(":", 2)[1] for name in names}


def fence(conn: Connection, plan: str, run_id: str, attempt: str | None = None) -> None:
    """The run fence, first in a unit's transaction: the run row read FOR SHARE (held to the commit,
    so the run cannot be replaced under the unit); a unit of any other run is refused, and with an
    `attempt`, a unit of a client that another one took the run over from (`take_over`)."""
    query = sa.select(runs.c.run_id).where(runs.c.plan == plan).with_for_update(read=True)
    current = conn.execute(query).scalar_one_or_none()
    if current != run_id:
        now = "no run" if current is None else f"run {current}"
        raise FencedError(f"unit of run {run_id} refused: the plan {plan!r} has {now} in the target now")
    if attempt is not None:
        taken = sa.select(fences.c.attempt).where(fences.c.plan == plan).with_for_update(read=True)
        if conn.execute(taken).scalar_one_or_none() != attempt:
            raise FencedError(f"unit of run {run_id} refused: another client has taken the run over since")


def take_over(conn: Connection, plan: str) -> str:
    """A client takes the plan's run over, in the current transaction: the run row FOR UPDATE (the
    units in flight commit first), then a new attempt, which fences off every client before it."""
    current_run(conn, plan, take=True)
    fences.create(conn, checkfirst=True)
    attempt = uuid.uuid4().hex
    conn.execute(sa.delete(fences).where(fences.c.plan == plan))
    conn.execute(sa.insert(fences).values(plan=plan, attempt=attempt))
    return attempt


def claim(
    conn: Connection,
    plan: str,
    run_id: str,
    unit: str,
    rows: int,
    last_key: tuple[Any, ...] | None,
    bounds: str | None = None,
) -> bool:
    """Claim `unit`'s ledger row in the current transaction, after `fence`: True when this
    transaction holds it now, False when another committed it (the unit is done: roll back). A claim
    made by a transaction still open elsewhere makes this one wait for its end. `bounds`: the key
    range the unit is in (`encode_bounds`)."""
    values = {
        "plan": plan,
        "unit": unit,
        "run_id": run_id,
        "rows": rows,
        "checksum": None,
        "done_at": utc_now(),
        "last_key": encode_key(last_key) if last_key is not None else None,
    }
    if bounds is not None:  # only then: the column of a ledger made before it is there after `ensure`
        values["bounds"] = bounds
    return _insert_once(conn, values)


def _insert_once(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert a ledger row unless its unit is there: True when this inserted it."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(units).values(values).on_conflict_do_nothing().returning(units.c.unit)
        return conn.execute(statement).first() is not None
    if dialect in ("mysql", "mariadb"):
        return conn.execute(mysql.insert(units).values(values).prefix_with("IGNORE")).rowcount == 1
    if dialect == "sqlite":
        return conn.execute(sqlite.insert(units).values(values).on_conflict_do_nothing()).rowcount == 1
    raise PermanentError(f"no ledger claim for a {dialect} target")


def settle(conn: Connection, plan: str, unit: str, checksum: str | None, *, rows: int | None = None) -> None:
    """The mark of a claimed unit, once its rows are written: its digest and time (and its row count,
    when the claim could not know it)."""
    values: dict[str, Any] = {"checksum": checksum, "done_at": utc_now()}
    if rows is not None:
        values["rows"] = rows
    conn.execute(sa.update(units).where(units.c.plan == plan, units.c.unit == unit).values(values))


def claimed(
    conn: Connection,
    plan: str,
    run_id: str,
    unit: str,
    rows: int,
    last_key: tuple[Any, ...] | None,
    attempt: str | None = None,
    bounds: str | None = None,
) -> bool:
    """`fence` then `claim`: the start of every unit's transaction."""
    fence(conn, plan, run_id, attempt)
    return claim(conn, plan, run_id, unit, rows, last_key, bounds)


Bound = tuple[Any, ...] | None  # a key, or None: open on that side


def encode_bounds(lower: Bound, upper: Bound) -> str:
    return json.dumps([None if b is None else [_tag(v) for v in b] for b in (lower, upper)])


def decode_bounds(text: str) -> tuple[Bound, Bound]:
    lower, upper = (None if b is None else tuple(_untag(v) for v in b) for b in json.loads(text))
    return lower, upper


def record_ranges(conn: Connection, plan: str, run_id: str, table: str, ranges: list[tuple[Bound, Bound]]) -> None:
    """A table's key ranges, "range:TABLE:R", before any of its rows is copied; a range recorded
    already (by a client that ran before this one) is kept as it is."""
    for index, (lower, upper) in enumerate(ranges):
        values = {
            "plan": plan,
            "unit": f"range:{table}:{index}",
            "run_id": run_id,
            "rows": 0,
            "checksum": None,
            "done_at": utc_now(),
            "last_key": None,
            "bounds": encode_bounds(lower, upper),
        }
        _insert_once(conn, values)


def recorded_ranges(conn: Connection, plan: str, table: str) -> list[tuple[Bound, Bound]]:
    """The key ranges recorded for `table`, in order; empty when it has none (copied as one range,
    or by a version before ranges). Read after `ensure`, which adds the column to older ledgers."""
    prefix = f"range:{table}:"
    where = (units.c.plan == plan, units.c.unit.startswith(prefix, autoescape=True))
    rows = conn.execute(sa.select(units.c.unit, units.c.bounds).where(*where)).all()
    return _decoded_ranges(rows)


@dataclass(frozen=True)
class RangeLedger:
    """Every table's recorded ranges, and the tables that have chunks or are complete, read at once:
    what planning the ranges asks of each table, in one query instead of three per table."""

    ranges: dict[str, list[tuple[Bound, Bound]]]
    started: set[str]


def range_ledger(conn: Connection, plan: str) -> RangeLedger:
    kinds = ("range", "table", "complete")
    rows = conn.execute(
        sa.select(units.c.unit, units.c.bounds).where(
            units.c.plan == plan, sa.or_(*(units.c.unit.startswith(f"{k}:", autoescape=True) for k in kinds))
        )
    ).all()
    ranges: dict[str, list[Any]] = {}
    started = set()
    for row in rows:
        kind, _, rest = row.unit.partition(":")
        table = rest.rpartition(":")[0]
        if kind == "range":
            ranges.setdefault(table, []).append(row)
        else:
            started.add(table)
    return RangeLedger({table: _decoded_ranges(found) for table, found in ranges.items()}, started)


def _decoded_ranges(rows: Sequence[Any]) -> list[tuple[Bound, Bound]]:
    ordered = sorted(rows, key=lambda r: int(r.unit.rsplit(":", 1)[1]))
    return [decode_bounds(r.bounds) for r in ordered]


def mark_done(
    conn: Connection,
    plan: str,
    run_id: str,
    unit: str,
    rows: int,
    last_key: tuple[Any, ...] | None,
    checksum: str | None = None,
) -> None:
    conn.execute(
        sa.insert(units).values(
            plan=plan,
            unit=unit,
            run_id=run_id,
            rows=rows,
            checksum=checksum,
            done_at=utc_now(),
            last_key=encode_key(last_key) if last_key is not None else None,
        )
    )


def encode_key(key: tuple[Any, ...]) -> str:
    return json.dumps([_tag(v) for v in key])


def decode_key(text: str) -> tuple[Any, ...]:
    return tuple(_untag(v) for v in json.loads(text))


def _tag(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, UUID):
        return {"uuid": str(value)}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    return value


def _untag(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, text),) = value.items()
    decoders: dict[str, Any] = {
        "datetime": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "decimal": Decimal,
        "uuid": UUID,
        "bytes": bytes.fromhex,
    }
    return decoders[kind](text)

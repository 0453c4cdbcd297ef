"""`migrator verify`: prove the target holds exactly the subset (SPEC §3 invariants).

I1 integrity   every foreign key (declared or virtual) between copied tables resolves in the target,
               and no reference points into a table the plan did not copy;
I2 residency   no target row is outside the subset: no extra key, no row in a skipped table;
I3 complete    every subset row is in the target with the same content after the column transforms.

I2 and I3 compare per-table digests (count + order-independent checksum, streamed); only when they
differ are both sides walked in key order to name the rows. With `--receipt`, the target is checked
against the digests a run recorded, without reading the source at all.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from migrator.cores import machine_cores
from migrator.engine.plan_urls import urls
from migrator.engine.results import Check, TableDigest, VerifyResult
from migrator.engine.transforms import RowTransform, hash_key_from, row_transform
from migrator.errors import MigratorError, UsageError
from migrator.plan.load import LoadedPlan
from migrator.stores.sql import connect, ledger
from migrator.stores.sql.errors import translated
from migrator.stores.sql.ledger import LEDGER_TABLES
from migrator.stores.sql.snapshot import map_in_snapshot, table_sizes
from migrator.stores.sql.sqlite_attach import with_values
from migrator.stores.sql.sqlite_digest import STORED, STORED_CHUNKS, sqlite_digest, stored_chunks_digest
from migrator.stores.sql.sqlite_library import threads_run_apart
from migrator.stores.sql.target_tables import all_but
from migrator.stores.sql.typemap_digest import (
    TYPEMAP,
    canonical_rows,
    carried_canonicals,
    keyed_canonically,
    target_digest,
    target_keyed,
    target_kinds,
)
from migrator.stores.sql.types import translate
from migrator.stores.sql.verify_sql import (
    BINARY_CHUNKS,
    STORED_METHODS,
    TEXT_CHUNKS,
    as_stored,
    count,
    keyed_rows,
    orphans,
    pg_digest,
    python_digest,
    stored_digest,
    target_rows,
    validated_foreign_keys,
)
from migrator.verify.compare import Differences, differences
from migrator.verify.digest import Digest, combine

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, Connection, Engine

    from migrator.engine.prepare import Prepared


def verify_plan(
    loaded: LoadedPlan,
    *,
    environ: Mapping[str, str] | None = None,
    receipt: Path | None = None,
    workers: int | None = None,
    against_source: bool = False,
) -> VerifyResult:
    """Every part of the plan checked, each writing its section of the one result. `workers`: tables
    checked at once (None: as many as the machine has cores, where the databases take the digests)."""
    from migrator.engine.parts.registry import parts_of

    started = time.monotonic()
    result = VerifyResult(loaded.plan.name, "", True, [], {}, [])
    for part in parts_of(loaded.plan):
        part.verify(loaded, result, receipt=receipt, workers=workers, against_source=against_source, environ=environ)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def verify_tables(
    loaded: LoadedPlan,
    *,
    environ: Mapping[str, str] | None = None,
    receipt: Path | None = None,
    workers: int | None = None,
    against_source: bool = False,
) -> VerifyResult:
    """Check the target's tables. By default against the digests the plan's finished run recorded in the
    target's ledger, as that run read the source, in its one snapshot: a source that lives on has
    changed since, and a new read would report its new rows as missing. Only the target is read,
    and the source only to name rows when a digest differs (or to learn the tables' columns and
    keys, when the run recorded no manifest). `against_source` (or no finished run of this plan
    file) computes the subset from the source as it is now; `receipt` checks against a receipt
    without the source."""
    started = time.monotonic()
    env = dict(os.environ if environ is None else environ)
    try:
        quick = None if receipt is not None or against_source else _without_the_source(loaded, workers)
    except MigratorError:
        loaded.check_sql()  # a problem of the plan file comes before one of reaching its target
        raise
    if quick is None or not quick.ok:
        # Only the digests of a finished run of this very file (its SHA-256) vouch for its SQL,
        # checked by that run; every other way reads the source with it, or may.
        loaded.check_sql()
    if receipt is not None:
        result = _against_receipt(loaded, receipt, workers)
    elif quick is not None and quick.ok:
        result = quick
    else:
        # No record to check against without the source, or a difference to name: the source is
        # read, for the subset as it is now, or for the rows that differ from what the run read.
        try:
            # One table at a time unless asked: the subset's digests on both sides are mostly rows
            # hashed in Python, which threads under the GIL only slow down.
            result = _with_the_source(loaded, env, workers or 1, against_source)
        except MigratorError:
            if quick is None:
                raise
            result = quick  # the source cannot be read to name the rows: what the target alone shows
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _with_the_source(loaded: LoadedPlan, env: dict[str, str], workers: int, against_source: bool) -> VerifyResult:
    # Imported here: reading the source's schema and the plan's SQL (sqlglot) is not needed to check
    # the target against the run's record, a fifth of the imports of a verification.
    from migrator.engine.prepare import prepared

    with translated("verification"), prepared(loaded) as prep:
        recorded = None if against_source else _recorded_by_the_run(prep)
        if recorded is None:
            result = _against_source(prep, env, workers)
            result.reference = "the source as it is now"
        else:
            run_id, digests = recorded
            result = verify_recorded(prep, env, digests, workers)
            result.reference = f"what run {run_id} read from the source, in its snapshot"
    return result


def _recorded_by_the_run(prep: Prepared) -> tuple[str, dict[str, tuple[str, Digest]]] | None:
    """The table digests of this plan file's finished run, from the target's ledger, if there is one."""
    if not connect.target_exists(prep.target_url):
        return None
    engine = connect.open_target(prep.target_url, create=False)
    plan = prep.loaded.plan.name
    try:
        with engine.connect() as conn:
            run = ledger.finished_run(conn, plan, prep.loaded.sha256)
            if run is None:
                return None
            digests = _ledger_digests(conn, plan, prep.copied_tables)
    finally:
        engine.dispose()
    return run.run_id, digests


def _ledger_digests(conn: Connection, plan: str, names: list[str]) -> dict[str, tuple[str, Digest]]:
    """Each table's digest as the run recorded it, unit by unit: (method, digest)."""
    digests = {}
    for name in names:
        done = ledger.progress(conn, plan, "table", name)
        digests[name] = combine(done.checksums, done.rows)
    return digests


def verify_recorded(
    prep: Prepared, env: Mapping[str, str], recorded: dict[str, tuple[str, Digest]], workers: int = 1
) -> VerifyResult:
    """Verification at the end of a run. The source side of every digest was computed while the rows
    streamed by (per unit, in the ledger, so a resumed run has it too); only the target is read now.
    Where the digests differ, the source is read again to name the rows."""
    started = time.monotonic()

    def table_checks(
        prep: Prepared, target: Connection, tables: dict[str, sa.Table], name: str, digests: Digests
    ) -> list[Check]:
        method, expected = recorded[name]
        written = prep.written_columns(name)
        key = list(prep.queries.rows(name).order_by)
        if name not in tables or any(c not in tables[name].c for c in written):
            return [Check("I3", name, False, "the table or some of its columns are missing in the target")]
        actual = _target_digest(
            target, tables[name], written, method, key, partial(ledger.chunk_ends, target, prep.loaded.plan.name, name)
        )
        digests[name] = TableDigest(actual.rows, actual.checksum, method, written, key)
        if actual == expected:
            detail = f"{actual.rows:,} rows, checksum {actual.checksum}"
            return [Check("I2", name, True, detail), Check("I3", name, True, detail)]
        transform = _transform(prep, name, dict(env))
        return _explain(prep, target, tables[name], name, transform, written, key, expected, actual, method)

    result = _check_target(prep, table_checks, workers, against_the_run=True)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _target_digest(
    target: Connection, table: sa.Table, columns: list[str], method: str, key: list[str], chunk_ends: ChunkEnds
) -> Digest:
    if method in (TEXT_CHUNKS, BINARY_CHUNKS):
        # Imported here: psycopg's import is a tenth of a SQLite target's whole verification.
        from migrator.stores.sql.pgcopy import copy_out_digest

        return copy_out_digest(target, table, columns, key, chunk_ends(), binary=method == BINARY_CHUNKS)
    if method == "postgresql":
        return pg_digest(target, target_rows(table, columns, []), columns)
    if method == STORED:
        return stored_digest(target, target_rows(table, columns, []), columns)
    if method == STORED_CHUNKS:
        return stored_chunks_digest(target, table.name, columns, key, chunk_ends())
    if method == TYPEMAP:
        return target_digest(target, table, columns)
    return python_digest(target, target_rows(table, columns, []), columns, None)


def _against_source(prep: Prepared, env: dict[str, str], workers: int) -> VerifyResult:
    def table_checks(
        prep: Prepared, target: Connection, tables: dict[str, sa.Table], name: str, digests: Digests
    ) -> list[Check]:
        return _content_checks(prep, target, tables, name, _transform(prep, name, env), digests)

    return _check_target(prep, table_checks, workers)


Digests = dict[str, "TableDigest"]
# Digests taken between the chunks' last keys, which the ledger holds.
_CHUNKED = (TEXT_CHUNKS, BINARY_CHUNKS, STORED_CHUNKS)
_IN_THE_DATABASE = (*_CHUNKED, "postgresql")  # digests whose work the target's database does
ChunkEnds = Callable[[], list[tuple[Any, ...] | None]]  # the run's chunk bounds, read from the ledger when needed
# A string: its SQLAlchemy types are imported for the type checker only.
TableChecks: TypeAlias = "Callable[[Prepared, Connection, dict[str, sa.Table], str, Digests], list[Check]]"


def _check_target(
    prep: Prepared, table_checks: TableChecks, workers: int = 1, *, against_the_run: bool = False
) -> VerifyResult:
    """The checks every verification makes: each copied table's content (as `table_checks` says),
    skipped tables empty, every reference resolving. With `workers` > 1 the tables are checked on
    that many pairs of connections at once, the source ones all in the one snapshot (PostgreSQL).
    `against_the_run`: the contents are compared with what the run wrote, so that where they all
    match, the target's validated foreign keys answer for I1 (see `_references`)."""
    engine = _open_existing_target(prep.target_url)
    checks: list[Check] = []
    digests: Digests = {}
    try:
        with engine.connect() as target:
            tables = _target_tables(target)

            def one_table(source: Connection, name: str) -> tuple[list[Check], Digests]:
                found: Digests = {}
                if source is prep.conn:
                    return table_checks(prep, target, tables, name, found), found
                with engine.connect() as own_target:
                    result = table_checks(replace(prep, conn=source), own_target, tables, name, found)
                    own_target.rollback()
                return result, found

            fks = _foreign_keys(prep)
            # Under `existing: merge` the target holds rows the run did not write, and no digest vouches for them.
            merged = prep.loaded.plan.target.existing == "merge"
            enforced, queried = _enforced(target, fks) if against_the_run and not merged else ([], fks)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="migrator-integrity") as aside:
                # With workers, the references are checked at the same time as the contents.
                integrity = aside.submit(_integrity_apart, engine, tables, queried) if workers > 1 else None
                names = prep.copied_tables
                sizes = table_sizes(prep.conn) if workers > 1 else {}
                for table_result, found in map_in_snapshot(
                    prep.engine, prep.conn, names, one_table, workers, largest_first=sizes
                ):
                    checks += table_result
                    digests.update(found)
                checks += _skipped_tables_are_empty(prep, target, tables)
                checks += integrity.result() if integrity else _integrity(target, tables, queried)
                checks += _references(target, tables, enforced, contents_match=_contents_match(checks))
            target.rollback()
    finally:
        engine.dispose()
    ok = all(c.ok for c in checks)
    return VerifyResult(prep.loaded.plan.name, connect.redact(prep.target_url), ok, checks, digests, fks)


def _content_checks(
    prep: Prepared,
    target: Connection,
    tables: dict[str, sa.Table],
    name: str,
    transform: RowTransform | None,
    digests: dict[str, TableDigest],
) -> list[Check]:
    if name not in tables:
        return [Check("I3", name, False, "the table is missing from the target")]
    target_table = tables[name]
    query = prep.queries.rows(name)
    written = prep.written_columns(name)
    missing_columns = [c for c in written if c not in target_table.c]
    if missing_columns:
        return [Check("I3", name, False, f"the target table has no column {', '.join(missing_columns)}")]
    key = list(query.order_by)
    ordered = query.rows.with_only_columns(*[c for c in query.rows.selected_columns if c.name in written])
    in_server = transform is None and _same_types(prep.source.table(name), target_table, written, prep.conn, target)
    # SQLite to SQLite: the source's values as stored, transformed by SQLite as the copy did.
    both_sqlite = prep.conn.dialect.name == target.dialect.name == "sqlite"
    values = transform.values if transform is not None else {}
    stored = both_sqlite and sqlite_digest(
        prep.conn, with_values(prep.conn, ordered, written, values), written, stored=True
    )
    if _typemap_applies(prep, target):
        method = TYPEMAP
        canonicals = _source_canonicals(prep, target, target_table, name, written)
        expected = python_digest(prep.conn, ordered, written, _then(transform, written, canonicals))
        actual = target_digest(target, target_table, written)
    elif in_server:
        method = "postgresql"
        expected = pg_digest(prep.conn, ordered, written)
        actual = pg_digest(target, target_rows(target_table, written, []), written)
    elif stored:
        method, expected = STORED, stored
        actual = stored_digest(target, target_rows(target_table, written, []), written)
    else:
        method = "python"
        expected = python_digest(prep.conn, ordered, written, transform)
        actual = python_digest(target, target_rows(target_table, written, []), written, None)
    digests[name] = TableDigest(actual.rows, actual.checksum, method, written, key)
    if expected == actual:
        detail = f"{actual.rows:,} rows, checksum {actual.checksum}"
        return [Check("I2", name, True, detail), Check("I3", name, True, detail)]
    return _explain(prep, target, target_table, name, transform, written, key, expected, actual, method)


def _explain(
    prep: Prepared,
    target: Connection,
    target_table: sa.Table,
    name: str,
    transform: RowTransform | None,
    written: list[str],
    key: list[str],
    expected: Digest,
    actual: Digest,
    method: str,
) -> list[Check]:
    """The digests differ: walk both sides in key order to name the rows. Where the digests are of
    the values as stored (same dialect), so is the walk: a value whose spelling changed is named."""
    summary = f"subset {expected.rows:,} rows ({expected.checksum}), target {actual.rows:,} rows ({actual.checksum})"
    if not key:
        return [Check("I3", name, False, f"{summary}; the table has no key, so the rows cannot be named")]
    source_query = prep.queries.rows(name).rows
    target_query = target_rows(target_table, written + [k for k in key if k not in written], key)
    if method == TYPEMAP:
        # Both sides in the type map's canonical form, as their digests were taken.
        canonicals = _source_canonicals(prep, target, target_table, name, written)
        source_rows = keyed_rows(prep.conn, source_query, key, written, _then(transform, written, canonicals))
        key_canonicals = [canonicals[written.index(k)] if k in written else None for k in key]
        found = differences(
            keyed_canonically(source_rows, key_canonicals), target_keyed(target, target_table, written, key)
        )
        return _named(prep, name, summary, found, expected.rows)
    if method in (STORED, STORED_CHUNKS) and transform is not None and set(key) <= set(written):
        # The stored values, transformed by SQLite as the copy did: compared as stored.
        source_query, transform = with_values(prep.conn, source_query, written, transform.values), None
    if method in STORED_METHODS and transform is None:
        source_query, source_key = as_stored(prep.conn, source_query, key, written)
        target_query, target_key = as_stored(target, target_query, key, written)
    else:
        source_key = target_key = key
    source_rows = keyed_rows(prep.conn, source_query, source_key, written, transform)
    found = differences(source_rows, keyed_rows(target, target_query, target_key, written, None))
    return _named(prep, name, summary, found, expected.rows)


def _named(prep: Prepared, name: str, summary: str, found: Differences, rows: int) -> list[Check]:
    """The checks for a table whose digests differ, from the rows the walk found different."""
    merged = prep.loaded.plan.target.existing == "merge"
    if merged and found.extra and found.complete:
        # `existing: merge` keeps the target's own rows: they are not the run's, and not a leak of it.
        detail = f"{summary}; rows the target had before the merge are kept (target.existing: merge)"
        extra_check = Check("I2", name, True, detail, [_show(k) for k in found.extra])
        found.extra = []
    else:
        extra_check = None
    checks = [
        Check(
            "I2",
            name,
            not found.extra,
            f"{summary}; rows outside the subset" if found.extra else "no row outside the subset",
            [_show(k) for k in found.extra],
        ),
        Check(
            "I3",
            name,
            not (found.missing or found.changed),
            f"{summary}; "
            + ", ".join(
                part
                for part in (
                    "rows missing" if found.missing else "",
                    "rows with other content" if found.changed else "",
                )
                if part
            )
            if found.missing or found.changed
            else "every subset row is there, unchanged",
            [f"missing {_show(k)}" for k in found.missing] + [f"changed {_show(k)}" for k in found.changed],
        ),
    ]
    if extra_check is not None:
        checks[0] = extra_check
    if not found.complete:
        # The walk could not follow both sides (keys that sort differently in the two databases):
        # report the difference itself.
        return [Check("I3", name, False, f"{summary}; the rows differ")]
    if all(c.ok for c in checks) and extra_check is None:
        # Value for value the rows are the same: the digests differ only in how the two sides write
        # a value as text (a target column declared numeric(10,2) writes 1.5 as 1.50), or in how
        # they order a text key (the chunks of a `COPY` copy are hashed in key order).
        same = (
            f"{rows:,} rows match value for value "
            "(the two sides write some values differently, or order the keys differently)"
        )
        return [Check("I2", name, True, same), Check("I3", name, True, same)]
    return checks


def _skipped_tables_are_empty(prep: Prepared, target: Connection, tables: dict[str, sa.Table]) -> list[Check]:
    checks = []
    for name, kind in prep.classes.classes.items():
        if kind in ("skip", "unlisted") and name in tables:
            checks.append(_empty(target, tables[name], f"{kind} table"))
    return checks


def _empty(target: Connection, table: sa.Table, what: str) -> Check:
    """I2 for a table the plan copies nothing into: any row there is outside the subset."""
    rows = count(target, table)
    return Check(
        "I2", table.name, rows == 0, f"{what} holds {rows:,} rows in the target" if rows else f"{what} is empty"
    )


def _foreign_keys(prep: Prepared) -> list[dict[str, Any]]:
    """Every reference a copied row may hold, as data a receipt can carry."""
    keys = []
    for fk in prep.source.schema.foreign_keys:
        if not prep.classes.copied(fk.child):
            continue
        parent = fk.parent if prep.classes.copied(fk.parent) else None
        keys.append(
            {
                "relation": str(fk),
                "child": fk.child,
                "columns": list(fk.child_columns),
                "parent": parent,
                "parent_columns": list(fk.parent_columns),
            }
        )
    return keys


def _integrity_apart(engine: Engine, tables: dict[str, sa.Table], fks: list[dict[str, Any]]) -> list[Check]:
    with engine.connect() as target:
        checks = _integrity(target, tables, fks)
        target.rollback()
    return checks


def _enforced(target: Connection, fks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The references the target's database enforces with a validated foreign key, and the rest."""
    validated = validated_foreign_keys(target)
    enforced = [
        fk
        for fk in fks
        if fk["parent"] and (fk["child"], tuple(fk["columns"]), fk["parent"], tuple(fk["parent_columns"])) in validated
    ]
    return enforced, [fk for fk in fks if fk not in enforced]


def _contents_match(checks: list[Check]) -> bool:
    return all(c.ok for c in checks if c.check in ("I2", "I3"))


BY_CONSTRAINT = "a validated foreign key in the target, over the rows the run wrote"
BY_THE_RUN = "as the run's own verification found it, over these very rows"


def _references(
    target: Connection,
    tables: dict[str, sa.Table],
    vouched: list[dict[str, Any]],
    *,
    contents_match: bool,
    why: str = BY_CONSTRAINT,
) -> list[Check]:
    """I1 for references already checked over the rows the run wrote: by the target's database
    (a validated foreign key, checked when it was added after the load or on every insert), or by
    the run's own verification (`why` says which). When every copied table holds exactly those
    rows (their digests match the run's), the anti-join, the most expensive query of a
    verification, would only repeat that check: whether a reference resolves depends on the
    tables' rows alone. If any content differs, the references are queried like all the others."""
    if not contents_match:
        return _integrity(target, tables, vouched)
    return [Check("I1", fk["child"], True, f"{fk['relation']}: every reference resolves ({why})") for fk in vouched]


def _integrity(target: Connection, tables: dict[str, sa.Table], fks: list[dict[str, Any]]) -> list[Check]:
    checks = []
    for fk in fks:
        child = tables.get(fk["child"])
        if child is None or any(c not in child.c for c in fk["columns"]):
            continue  # reported by I3
        parent = tables.get(fk["parent"]) if fk["parent"] else None
        found, examples = orphans(target, child, fk["columns"], parent, fk["parent_columns"])
        detail = f"{found:,} rows point at nothing" if found else "every reference resolves"
        checks.append(Check("I1", fk["child"], found == 0, f"{fk['relation']}: {detail}", [_show(e) for e in examples]))
    return checks


def _against_receipt(loaded: LoadedPlan, path: Path, workers: int | None) -> VerifyResult:
    try:
        receipt = json.loads(path.read_text(encoding="utf-8"))
        recorded = receipt["verification"]
        tables = {name: TableDigest(**entry) for name, entry in recorded["tables"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a migrator receipt with a verification section ({exc})") from None
    skipped = receipt.get("skipped_tables", [])
    engine = _open_existing_target(urls(loaded)[1])
    try:
        return _against_record(loaded, engine, tables, recorded["foreign_keys"], skipped, "the receipt", workers)
    finally:
        engine.dispose()


def _without_the_source(loaded: LoadedPlan, workers: int | None) -> VerifyResult | None:
    """The default verification, from the target alone: the digests of the plan file's finished
    run and the manifest it recorded (columns, keys, references, skipped tables) are all in the
    target's ledger. None when the ledger has no such run or manifest (a run of an earlier
    version), or under `existing: merge`, whose target rows no digest vouches for."""
    _, target_url = urls(loaded)
    if loaded.plan.target.existing == "merge" or not connect.target_exists(target_url):
        return None
    plan = loaded.plan.name
    engine = connect.open_target(target_url, create=False)
    try:
        with translated("verification"), engine.connect() as conn:
            run = ledger.finished_run(conn, plan, loaded.sha256)
            manifest = ledger.manifest(conn, plan, run.run_id) if run is not None else None
            if run is None or manifest is None:
                return None
            recorded = _ledger_digests(conn, plan, list(manifest["tables"]))
        tables = {}
        for name, entry in manifest["tables"].items():
            method, digest = recorded[name]
            tables[name] = TableDigest(digest.rows, digest.checksum, method, entry["columns"], entry["key"])
        whose = f"run {run.run_id}"
        result = _against_record(
            loaded,
            engine,
            tables,
            manifest["foreign_keys"],
            manifest["skipped_tables"],
            whose,
            workers,
            references_checked=manifest.get(REFERENCES_CHECKED) is True,
        )
    finally:
        engine.dispose()
    result.reference = f"what run {run.run_id} read from the source, in its snapshot"
    return result


# In a run's manifest: its own verification held, every reference resolving over the rows it wrote.
REFERENCES_CHECKED = "references_checked"


def verification_manifest(prep: Prepared, *, verified: bool = False) -> dict[str, Any]:
    """What a verification needs to know of the plan's tables besides their digests, recorded when
    a run finishes, so that `verify` can check the target without opening the source. `verified`:
    the run's own verification passed, I1 included, over the rows whose digests the ledger holds."""
    manifest: dict[str, Any] = {
        "tables": {
            name: {"columns": prep.written_columns(name), "key": list(prep.queries.rows(name).order_by)}
            for name in prep.copied_tables
        },
        "foreign_keys": _foreign_keys(prep),
        "skipped_tables": [name for name, kind in prep.classes.classes.items() if kind in ("skip", "unlisted")],
    }
    if verified and prep.loaded.plan.target.existing != "merge":
        manifest[REFERENCES_CHECKED] = True
    return manifest


def tables_at_once(recorded: Iterable[TableDigest], workers: int | None, target_dialect: str = "") -> int:
    """How many tables a check against recorded digests takes at once: `workers` (None: the machine's
    cores) where the target's database does the work of every digest (COPY or sums in a PostgreSQL
    server, a SQLite target spelling its rows), without the GIL; else one. Rows hashed one by one
    in Python (a MariaDB target, digests across dialects) are only slowed down by threads under the
    GIL: a PostgreSQL -> SQLite verification at the benchmark's scale 1 took 2.5 s with two, 2.2 s
    with one, where SQLite -> SQLite took 1.2 s with two, 1.4 s with one.

    A type-map digest on a SQLite target is spelled by SQLite too, but two SQLite threads of one
    process are slower than one while SQLite keeps its memory statistics (sqlite_library.py): such
    digests are taken side by side only where the CLI turned them off (2.2 s with two, 2.7 s with
    one, where with the statistics on two took 3.9 s and one 3.1 s)."""
    in_the_database: tuple[str, ...] = _IN_THE_DATABASE
    if target_dialect == "sqlite" and threads_run_apart():
        in_the_database = (*_IN_THE_DATABASE, TYPEMAP)
    if not all(digest.method in in_the_database for digest in recorded):
        return 1
    return max(1, machine_cores() if workers is None else workers)


def _against_record(
    loaded: LoadedPlan,
    engine: Engine,
    recorded: dict[str, TableDigest],
    foreign_keys: list[dict[str, Any]],
    skipped: list[str],
    whose: str,
    workers: int | None,
    *,
    references_checked: bool = False,
) -> VerifyResult:
    """The target checked against recorded digests (a receipt's, or the ledger's), reading nothing
    but the target (`engine`): up to `workers` tables at once (None: the machine's cores), each on a
    connection of its own. `references_checked`: the run that recorded the digests verified every
    reference over its rows (`REFERENCES_CHECKED`), so none is queried while the digests match."""
    checks: list[Check] = []
    digests: dict[str, TableDigest] = {}
    with translated(f"verification against {whose}"), engine.connect() as target:
        tables = _target_tables(target)
        has_ledger = ledger.exists(target)

        def table_checks(name: str) -> tuple[list[Check], TableDigest | None]:
            want = recorded[name]
            if name not in tables:
                return [Check("I3", name, False, "the table is missing from the target")], None
            if want.method in _CHUNKED and not has_ledger:
                gone = "the target's ledger, which holds the chunk bounds of this table's digest, is gone"
                return [Check("I3", name, False, gone)], None
            with engine.connect() as own:
                chunk_ends = partial(ledger.chunk_ends, own, loaded.plan.name, name)
                got = _target_digest(own, tables[name], want.columns, want.method, want.key, chunk_ends)
                own.rollback()
            same = (got.rows, got.checksum) == (want.rows, want.checksum)
            detail = f"{got.rows:,} rows, checksum {got.checksum}" + (
                "" if same else f"; {whose} says {want.rows:,} rows, checksum {want.checksum}"
            )
            found = TableDigest(got.rows, got.checksum, want.method, want.columns, want.key)
            return [Check("I2", name, same, detail), Check("I3", name, same, detail)], found

        largest_first = sorted(recorded, key=lambda name: -recorded[name].rows)
        parallel = tables_at_once(recorded.values(), workers, target.dialect.name)
        vouched, queried = (foreign_keys, []) if references_checked else _enforced(target, foreign_keys)
        why = BY_THE_RUN if references_checked else BY_CONSTRAINT
        target.rollback()
        with (
            ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="migrator-verify") as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="migrator-integrity") as aside,
        ):
            # The references are queried on a connection of their own, while the digests are taken:
            # on SQLite as on PostgreSQL the database does that work, without the GIL.
            # None to query (the run checked them all): no connection is opened for them.
            integrity = aside.submit(_integrity_apart, engine, tables, queried) if queried else None
            checked = dict(zip(largest_first, pool.map(table_checks, largest_first), strict=True))
        for name in recorded:  # reported in the recorded order
            table_result, found = checked[name]
            checks += table_result
            if found is not None:
                digests[name] = found
        for name in skipped:
            if name in tables:
                checks.append(_empty(target, tables[name], "skipped table"))
        checks += integrity.result() if integrity is not None else []
        checks += _references(target, tables, vouched, contents_match=_contents_match(checks), why=why)
        target.rollback()
    ok = all(c.ok for c in checks)
    target_url = connect.redact(urls(loaded)[1])
    return VerifyResult(loaded.plan.name, target_url, ok, checks, digests, foreign_keys)


def _open_existing_target(url: URL) -> Engine:
    if not connect.target_exists(url):
        raise UsageError(f"the target does not exist: {connect.redact(url)}; run the plan first")
    return connect.open_target(url, create=False)


def _target_tables(conn: Connection) -> dict[str, sa.Table]:
    return all_but(conn, LEDGER_TABLES)


def _transform(prep: Prepared, name: str, env: dict[str, str]) -> RowTransform | None:
    columns = {c.name: c for c in prep.source.schema.tables[name].columns}
    return row_transform(dict(prep.loaded.plan.data.rule(name).columns), columns, hash_key_from(env))


def _typemap_applies(prep: Prepared, target: Connection) -> bool:
    """Across dialects into the schema the type map designed: digests in its canonical form."""
    return prep.loaded.plan.data.schema_ != "existing" and prep.conn.dialect.name != target.dialect.name


def _source_canonicals(
    prep: Prepared, target: Connection, target_table: sa.Table, name: str, written: list[str]
) -> list[Callable[[Any], Any] | None]:
    """Per written column: a source value in the canonical form of its target column, converted as
    the type map converts it for the write (types.py), normalised as the target column's kind says."""
    source, into = prep.conn.dialect.name, target.dialect.name
    columns = prep.source.table(name).c
    types = [translate(columns[c].type, source, into, is_key=False) for c in written]
    return carried_canonicals(types, target_kinds(target_table, written, into))


def _then(
    transform: RowTransform | None, written: list[str], canonicals: list[Callable[[Any], Any] | None]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The plan's transform of a source row, then each written value in its canonical form."""

    def canonical_row(row: dict[str, Any]) -> dict[str, Any]:
        if transform is not None:
            row = transform(row)
        values = next(canonical_rows([tuple(row.get(c) for c in written)], canonicals))
        return dict(zip(written, values, strict=True))

    return canonical_row


def _same_types(source: sa.Table, target: sa.Table, columns: list[str], a: Connection, b: Connection) -> bool:
    if a.dialect.name != "postgresql" or b.dialect.name != "postgresql":
        return False
    return all(
        source.c[c].type.compile(dialect=a.dialect) == target.c[c].type.compile(dialect=b.dialect) for c in columns
    )


def _show(key: tuple[Any, ...]) -> str:
    return ", ".join(str(v) for v in key) if len(key) > 1 else str(key[0])

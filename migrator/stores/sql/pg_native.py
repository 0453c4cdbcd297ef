"""PostgreSQL to PostgreSQL: the target's schema is pg_dump's, filtered to the copied tables.

As pgcopydb does: `pg_dump -Fc --schema-only` in the run's snapshot, `pg_restore -l` for its table of
contents, the entries that touch a table we do not copy taken out, and `pg_restore -L` for the SQL of
the rest. What touches what comes from the catalog (pg_dependencies.py), so each entry is judged by
its object's id, not by its text.

Pre-data entries run before the load (less the views, which read the loaded tables); the primary
keys apart (NativeSchema.keys: before the load for an upsert, which needs them, else first after
it); post-data entries, the views, the materialized views' refresh and the sequences' values run
after it, so no trigger fires during the load.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from migrator.errors import PermanentError
from migrator.stores.sql.pg_dependencies import PG_CLASS, Analysis, Obj, analyse
from migrator.stores.sql.qualified import plan_name, split

if TYPE_CHECKING:
    from migrator.stores.sql.native_schema import NativeSchema


# Entries of the table of contents whose description has more than one word.
_DESCRIPTIONS = sorted(
    [
        "FK CONSTRAINT",
        "CHECK CONSTRAINT",
        "SEQUENCE OWNED BY",
        "SEQUENCE SET",
        "MATERIALIZED VIEW DATA",
        "MATERIALIZED VIEW",
        "TABLE ATTACH",
        "INDEX ATTACH",
        "TABLE DATA",
        "DEFAULT ACL",
        "FOREIGN TABLE",
        "EVENT TRIGGER",
        "ROW SECURITY",
        "SECURITY LABEL",
        "SHELL TYPE",
        "ACCESS METHOD",
        "PUBLICATION TABLE",
        "PUBLICATION TABLES IN SCHEMA",
        "OPERATOR CLASS",
        "OPERATOR FAMILY",
        "TEXT SEARCH CONFIGURATION",
        "TEXT SEARCH DICTIONARY",
        "TEXT SEARCH PARSER",
        "TEXT SEARCH TEMPLATE",
        "FOREIGN DATA WRAPPER",
        "USER MAPPING",
        "PROCEDURAL LANGUAGE",
        "LARGE OBJECT",
    ],
    key=len,
    reverse=True,
)
# Not the schema but the source deployment's: roles that may not exist in the target, tablespaces
# of the source's disks, and subscriptions, which in the target would start replicating from the
# source's publisher.
_DEPLOYMENT_SPECIFIC = ("--no-owner", "--no-privileges", "--no-tablespaces", "--no-subscriptions")
_TOC_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")


@dataclass
class Entry:
    """One line of `pg_restore -l`."""

    line: str
    dump_id: int
    catalog: int
    oid: int
    desc: str
    schema: str
    tag: str


def native_schema(source: Connection, tables: list[str], dropped: dict[str, set[str]]) -> NativeSchema:
    from migrator.stores.sql.native_schema import NativeSchema

    # pg_restore's calls are processes of their own: run side by side with each other and with the
    # catalog queries on `source` (a third of a small copy's start before this).
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="migrator-pg-restore") as pool:
        started: _Dump | None = source.info.pop(_DUMP_STARTED, None)
        programs = pool.submit(_client_programs, _server_major(source)) if started is None else None
        analysis = analyse(source, tables, dropped)
        with tempfile.TemporaryDirectory(prefix="migrator-pgdump-") as work:
            if started is not None:  # begun with the run's snapshot (SchemaDumps), done by now or soon
                pg_restore, archive = started.programs[1], started.finished()
            else:
                assert programs is not None
                pg_dump, pg_restore = programs.result()
                archive = Path(work) / "schema.dump"
                _run(_dump_command(pg_dump, source, archive), source)
            listed = pool.submit(_toc, pg_restore, archive, [])
            pre_data = pool.submit(_toc, pg_restore, archive, ["--section=pre-data"])
            catalog = _catalog_facts(source)
            entries = listed.result()
            pre = {e.dump_id for e in pre_data.result()}
            before, keys, views, after = _groups(entries, pre, analysis, catalog)
            groups = {"before": before, "keys": keys, "views": views, "after": after}
            scripts = {
                name: pool.submit(_restore, pg_restore, archive, group, Path(work) / f"{name}.list")
                for name, group in groups.items()
            }
            before_sql, keys_sql, views_sql, after_sql = (scripts[name].result() for name in groups)
        if started is not None:
            started.remove()  # now, not at the run's end: a run killed later leaves no file behind
    drops = [
        f"ALTER TABLE {_in_schema(analysis.schema, table)} DROP COLUMN {_quote(column)} CASCADE"
        for table, columns in analysis.dropped.items()
        for column in columns
    ]
    refresh = [
        f"REFRESH MATERIALIZED VIEW {_qualified(e.schema, e.tag)}"
        for e in entries
        if e.desc == "MATERIALIZED VIEW" and e in views and e.oid in catalog.populated
    ]
    counters = _sequence_values(source, [e for e in before if e.desc == "SEQUENCE"])
    # The copy writes the source's values into identity columns; INSERT (the row path: transforms,
    # merge) refuses that for GENERATED ALWAYS, so such columns take BY DEFAULT until the load is done.
    always = [
        f"ALTER TABLE {_in_schema(analysis.schema, table)} ALTER COLUMN {_quote(column)}"
        for table, column in _identity_always(source, analysis.schema, tables, dropped)
    ]
    return NativeSchema(
        before_load=_local(before_sql + drops + [f"{a} SET GENERATED BY DEFAULT" for a in always]),
        after_load=_local([f"{a} SET GENERATED ALWAYS" for a in always] + views_sql + after_sql + refresh + counters),
        left_out=analysis.lines,
        generated=analysis.generated,
        keys=_local(keys_sql) if keys_sql else [],
    )


_DUMP_STARTED = "migrator.pg_native.dump"  # Connection.info: the dump SchemaDumps began on it


class SchemaDumps:
    """pg_dump begun as soon as the run's snapshot exists (`start`), so that it reads the schema while
    the run reads and checks it itself (reflection, the plan's checks, the target's preflight), not
    after: on the benchmark's small schema that is most of pg_dump's 0.2 s taken off a run's start.
    native_schema takes its archive; whatever is left (a run that failed before it) is ended and
    removed on exit."""

    def __init__(self) -> None:
        self._dumps: list[_Dump] = []

    def start(self, source: Connection) -> None:
        programs = _client_programs(_server_major(source))
        work = tempfile.mkdtemp(prefix="migrator-pgdump-")
        archive = Path(work) / "schema.dump"
        process = subprocess.Popen(
            _dump_command(programs[0], source, archive),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_environment(source, programs[0]),
        )
        dump = _Dump(process, Path(work), archive, programs)
        self._dumps.append(dump)
        source.info[_DUMP_STARTED] = dump

    def __enter__(self) -> SchemaDumps:
        return self

    def __exit__(self, *exc: object) -> None:
        for dump in self._dumps:
            if dump.process.poll() is None:
                dump.process.kill()
            dump.process.wait()
            dump.remove()


@dataclass
class _Dump:
    process: subprocess.Popen[str]
    work: Path
    archive: Path
    programs: tuple[str, str]  # pg_dump, pg_restore

    def remove(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def finished(self) -> Path:
        """The archive, once pg_dump has written it."""
        _, errors = self.process.communicate()
        if self.process.returncode != 0:
            raise PermanentError(f"pg_dump failed while reading the source schema: {errors.strip()}")
        return self.archive


def left_out(source: Connection, tables: list[str], dropped: dict[str, set[str]]) -> list[str]:
    """The objects a run would leave out, from the catalog alone (no pg_dump): for `migrator plan`."""
    return analyse(source, tables, dropped).lines


def _identity_always(
    conn: Connection, schema: str, tables: list[str], dropped: dict[str, set[str]]
) -> list[tuple[str, str]]:
    rows = conn.exec_driver_sql(
        """
        SELECT n.nspname, c.relname, a.attname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attidentity = 'a' AND NOT a.attisdropped AND NOT c.relispartition
        ORDER BY n.nspname, c.relname, a.attnum
        """
    )
    wanted = set(tables)
    found = [(plan_name(r.nspname, r.relname, schema), r.attname) for r in rows]
    return [(table, column) for table, column in found if table in wanted and column not in dropped.get(table, ())]


@dataclass
class _Catalog:
    primary_keys: set[int]  # pg_constraint oids of primary keys
    populated: set[int]  # materialized views holding rows in the source


def _catalog_facts(conn: Connection) -> _Catalog:
    keys = {r[0] for r in conn.exec_driver_sql("SELECT oid::int FROM pg_constraint WHERE contype = 'p'")}
    populated = {
        r[0] for r in conn.exec_driver_sql("SELECT oid::int FROM pg_class WHERE relkind = 'm' AND relispopulated")
    }
    return _Catalog(keys, populated)


# -- the table of contents -----------------------------------------------------------------------


def _groups(
    entries: list[Entry], pre: set[int], analysis: Analysis, catalog: _Catalog
) -> tuple[list[Entry], list[Entry], list[Entry], list[Entry]]:
    """The kept entries in dump order: before the load, the primary keys, views after the load, the
    rest of post-data."""
    anchors = _anchors(entries)
    before, views, after, keys = [], [], [], []
    for entry in entries:
        anchor = anchors.get(entry.dump_id)
        if anchor is None or _object(anchor) in analysis.left_out:
            continue  # left out, or a part of something left out (its comment)
        if (
            anchor.catalog == PG_CLASS
            and anchor.oid not in analysis.copied
            and anchor.desc in ("TABLE", "FOREIGN TABLE")
        ):
            continue
        if anchor.desc == "CONSTRAINT" and anchor.oid in catalog.primary_keys:
            keys.append(entry)  # NativeSchema.keys
        elif _object(anchor) in analysis.views:
            views.append(entry)
        elif anchor.dump_id in pre:
            before.append(entry)
        else:
            after.append(entry)
    return before, keys, views, after


def _anchors(entries: list[Entry]) -> dict[int, Entry]:
    """The entry each entry stands or falls with: itself; for a comment or an OWNED BY (no object
    id of its own), the object entry pg_dump wrote just before it; for an ATTACH, the partition or
    the partition's index it names."""
    by_name: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        if entry.desc in ("TABLE", "INDEX"):
            by_name[(entry.schema, entry.tag)] = entry
        elif entry.desc == "CONSTRAINT":
            by_name[(entry.schema, entry.tag.split(" ")[-1])] = entry
    anchors: dict[int, Entry] = {}
    previous: Entry | None = None
    for entry in entries:
        if entry.desc in ("TABLE ATTACH", "INDEX ATTACH"):
            found = by_name.get((entry.schema, entry.tag))
            if found is not None:
                anchors[entry.dump_id] = found
        elif entry.oid or previous is None:
            anchors[entry.dump_id] = entry
            previous = entry
        else:
            anchors[entry.dump_id] = previous
    return anchors


def _object(entry: Entry) -> Obj:
    return (entry.catalog, entry.oid, 0)


def _parse_toc(text: str) -> list[Entry]:
    entries = []
    for line in text.splitlines():
        match = _TOC_LINE.match(line)
        if not match:
            continue
        rest = match.group(4)
        desc = next((d for d in _DESCRIPTIONS if rest.startswith(d + " ")), rest.split(" ", 1)[0])
        schema, _, tail = rest[len(desc) + 1 :].partition(" ")
        tag = tail[:-1] if tail.endswith(" ") else tail.rsplit(" ", 1)[0]  # the owner ends the line
        entries.append(Entry(line, int(match.group(1)), int(match.group(2)), int(match.group(3)), desc, schema, tag))
    return entries


def _toc(pg_restore: str, archive: Path, options: list[str]) -> list[Entry]:
    return _parse_toc(_run([pg_restore, "-l", *options, str(archive)], None))


def _restore(pg_restore: str, archive: Path, entries: list[Entry], listing: Path) -> list[str]:
    """The SQL of these entries, in this order (pg_restore -L follows the list's order)."""
    if not entries:
        return []
    listing.write_text("".join(e.line + "\n" for e in entries))
    script = _run([pg_restore, "--no-owner", "--no-privileges", "-L", str(listing), "-f", "-", str(archive)], None)
    # psql meta-commands (pg_dump writes \restrict around its output) are not SQL.
    return split_statements("\n".join(line for line in script.splitlines() if not line.startswith("\\")))


# -- SQL text ------------------------------------------------------------------------------------

_SETTINGS = re.compile(r"^SET (\w+) = (.*)$", re.IGNORECASE)


def _local(statements: list[str]) -> list[str]:
    """pg_restore's session settings, made to last the transaction only (the run's connection goes
    on to write the ledger, with its usual search_path); its empty search_path kept, as every name
    in pg_dump's SQL is qualified and the function bodies and views are read as the source had them."""
    result = ["SELECT pg_catalog.set_config('search_path', '', true)", "SET LOCAL check_function_bodies = false"]
    for statement in statements:
        if statement.startswith("SELECT pg_catalog.set_config('search_path', '', false)"):
            continue
        match = _SETTINGS.match(statement)
        if match:
            name = match.group(1).lower()
            if name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"):
                continue  # the run's own timeouts hold
            statement = f"SET LOCAL {match.group(1)} = {match.group(2)}"
        result.append(statement)
    result.append("RESET search_path")
    return result


def split_statements(script: str) -> list[str]:
    """A SQL script cut into statements at the semicolons outside quotes, dollar quotes and comments
    (pg_dump's function bodies hold semicolons); comments dropped."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if script.startswith("/*", i):
            end = script.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if script[end] == ch:
                    if end + 1 < n and script[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            current.append(script[i : end + 1])
            i = end + 1
            continue
        if ch == "$":
            tag = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", script[i:])
            if tag:
                close = script.find(tag.group(0), i + len(tag.group(0)))
                end = n if close < 0 else close + len(tag.group(0))
                current.append(script[i:end])
                i = end
                continue
        if ch == ";":
            text = "".join(current).strip()
            if text:
                statements.append(text)
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    text = "".join(current).strip()
    if text:
        statements.append(text)
    return statements


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(schema: str, name: str) -> str:
    return f"{_quote(schema)}.{_quote(name)}"


def _in_schema(current: str, name: str) -> str:
    """A plan's table name as SQL, qualified: pg_restore's SQL runs with an empty search_path."""
    schema, table = split(name)
    return _qualified(schema or current, table)


def _sequence_values(source: Connection, sequences: list[Entry]) -> list[str]:
    """Each sequence where the source's is (pg_dump's SEQUENCE SET), and past the copied keys of the
    column it belongs to, should those be higher."""
    statements = []
    for entry in sequences:
        owners = source.exec_driver_sql(
            """
            SELECT c.relname AS owner, a.attname AS column_name, n2.nspname AS owner_schema
            FROM pg_class q JOIN pg_namespace n ON n.oid = q.relnamespace
            JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = q.oid
                 AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
            JOIN pg_class c ON c.oid = d.refobjid
            JOIN pg_namespace n2 ON n2.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
            WHERE n.nspname = %(schema)s AND q.relname = %(name)s
            """,
            {"schema": entry.schema, "name": entry.tag},
        ).all()
        sequence = _qualified(entry.schema, entry.tag)
        row = source.exec_driver_sql(f"SELECT last_value, is_called FROM {sequence}").one()
        regclass = "'" + sequence.replace("'", "''") + "'"
        called = "true" if row.is_called else "false"
        statements.append(f"SELECT pg_catalog.setval({regclass}, {int(row.last_value)}, {called})")
        for owner in owners:
            column, table = _quote(owner.column_name), _qualified(owner.owner_schema, owner.owner)
            statements.append(
                f"SELECT pg_catalog.setval({regclass}, top) FROM (SELECT max({column}) AS top FROM {table}) AS k "
                f"WHERE top > {int(row.last_value) - (0 if row.is_called else 1)}"
            )
    return statements


# -- the programs --------------------------------------------------------------------------------


def _server_major(source: Connection) -> int:
    return int(source.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000


def _client_programs(server: int) -> tuple[str, str]:
    """pg_dump and pg_restore, of a major version at least the server's (an older pg_dump refuses a
    newer server, or misses what it added)."""
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if pg_dump is None or pg_restore is None:
        raise PermanentError(
            "copying a PostgreSQL schema into PostgreSQL uses pg_dump and pg_restore, and they are not on the "
            f"PATH: install the PostgreSQL {server} client programs, or use data.schema: existing"
        )
    unwrapped = _behind_debian_wrapper(pg_dump, pg_restore, server)
    if unwrapped is not None:
        return unwrapped
    version = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", version)
    if found is None or int(found.group(1)) < server:
        raise PermanentError(
            f"pg_dump at {pg_dump} is {version.strip() or 'of unknown version'}, older than the source server "
            f"(PostgreSQL {server}): put the PostgreSQL {server} (or newer) client programs first on the PATH"
        )
    return pg_dump, pg_restore


_DEBIAN_WRAPPER = "pg_wrapper"  # postgresql-common's dispatcher, which Debian and Ubuntu put on the PATH
_DEBIAN_VERSIONS = Path("/usr/lib/postgresql")  # its binaries: VERSION/bin/pg_dump
_DEBIAN_CONFIG = "/etc/postgresql-common"  # the PGSYSCONFDIR the wrapper gives them (pg_service.conf)


def _behind_debian_wrapper(pg_dump: str, pg_restore: str, server: int) -> tuple[str, str] | None:
    """The binaries Debian's pg_wrapper would run, called without it, when the choice is the wrapper's
    only one: both programs are the wrapper, one PostgreSQL version is installed (with several, the
    wrapper's rules pick one, and it is asked), at least the server's, and no PGCLUSTER names one.
    The wrapper is a Perl program: its start took 20 ms of CPU per call here, and a run makes
    eight calls (the version, the dump, two listings, four scripts), most of them on the path the
    target's schema waits for. The version is the folder's: no process is started to ask it."""
    if "PGCLUSTER" in os.environ:
        return None
    if any(Path(program).resolve().name != _DEBIAN_WRAPPER for program in (pg_dump, pg_restore)):
        return None
    folders = [f for f in _DEBIAN_VERSIONS.glob("*/bin") if (f / "pg_dump").is_file()]
    if len(folders) != 1 or not folders[0].parent.name.isdigit():  # 9.6 and older: the wrapper knows them
        return None
    folder = folders[0]
    if int(folder.parent.name) < server or not (folder / "pg_restore").is_file():
        return None
    return str(folder / "pg_dump"), str(folder / "pg_restore")


def _snapshot(source: Connection) -> list[str]:
    """pg_dump reads in the run's own snapshot: the schema is the one the rows are read in."""
    snapshot_id = source.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    url = source.engine.url
    options = [f"{k}={v}" for k, v in url.query.items() if isinstance(v, str)]
    conninfo = [
        f"host={url.host or ''}",
        f"port={url.port or 5432}",
        f"user={url.username or ''}",
        f"dbname={url.database or ''}",
        *options,
    ]
    conninfo = [c for c in conninfo if not c.endswith("=")]
    return [f"--snapshot={snapshot_id}", "--dbname=" + " ".join(_conninfo_value(c) for c in conninfo)]


def _conninfo_value(item: str) -> str:
    key, _, value = item.partition("=")
    return f"{key}='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dump_command(pg_dump: str, source: Connection, archive: Path) -> list[str]:
    return [pg_dump, "-Fc", "--schema-only", *_DEPLOYMENT_SPECIFIC, *_snapshot(source), "-f", str(archive)]


def _environment(source: Connection | None, program: str) -> dict[str, str]:
    env = dict(os.environ)
    if Path(program).is_relative_to(_DEBIAN_VERSIONS):  # called without pg_wrapper, given what it would set
        env.setdefault("PGSYSCONFDIR", _DEBIAN_CONFIG)
    if source is not None and source.engine.url.password:
        env["PGPASSWORD"] = str(source.engine.url.password)  # not on the command line, where ps shows it
    return env


def _run(command: list[str], source: Connection | None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env=_environment(source, command[0]), check=False)
    if done.returncode != 0:
        program = Path(command[0]).name
        raise PermanentError(f"{program} failed while reading the source schema: {done.stderr.strip()}")
    return done.stdout

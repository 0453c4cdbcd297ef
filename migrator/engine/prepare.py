"""Everything a dry run and a run share: the source opened read-only in one snapshot, its schema,
the classification of its tables and the SQL that selects each table's subset."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrator.engine.plan_urls import urls
from migrator.errors import PlanError, Problem, StoreUnavailable, UsageError
from migrator.plan.load import LoadedPlan
from migrator.stores.sql import connect
from migrator.stores.sql.errors import MISSING_PRIVILEGE
from migrator.stores.sql.probe import expression_probe, unreadable_tables
from migrator.stores.sql.reflect import ReflectedSource, reflect, with_relations
from migrator.stores.sql.snapshot import snapshot
from migrator.stores.sql.subset_sql import SubsetSQL
from migrator.stores.sql.type_checks import Refusal, TypeChecks, read_as_stored, refused_columns
from migrator.subset.check import expression_problems, rule_problems, schema_problems
from migrator.subset.classify import Classification, classify
from migrator.subset.cycles import load_order

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine


@dataclass
class Prepared:
    loaded: LoadedPlan
    source_url: URL
    target_url: URL
    source: ReflectedSource
    classes: Classification
    queries: SubsetSQL
    conn: Connection
    engine: Engine
    # With `prepared(..., type_checks_in_counts=True)`: the type map's checks of the data, left for
    # the caller to take in its counts' scans and judge with `refuse_types`; None when made here.
    type_checks: TypeChecks | None = None
    types_judged: bool = False

    def refuse_types(self, found: dict[str, list[object]]) -> None:
        """The plan error of the deferred type checks, given each tested table's test values."""
        assert self.type_checks is not None
        self.types_judged = True
        _raise_refused(self.loaded, self.type_checks.refusals(found))

    @property
    def copied_tables(self) -> list[str]:
        """Copied tables, parents before children where the foreign keys allow it."""
        copied = [t for t in self.source.schema.tables if self.classes.copied(t)]
        parents: dict[str, set[str]] = {t: set() for t in copied}
        for fk in self.source.schema.foreign_keys:
            if fk.child in parents and fk.parent in parents:
                parents[fk.child].add(fk.parent)
        return load_order(copied, parents)

    def written_columns(self, table: str) -> list[str]:
        """The source columns the target receives, in source order: all but the dropped ones."""
        rules = self.loaded.plan.data.rule(table).columns
        return [c.name for c in self.source.table(table).columns if c.name not in rules or rules[c.name].keeps_column]


@contextmanager
def prepared(
    loaded: LoadedPlan,
    on_snapshot: Callable[[Connection], None] | None = None,
    *,
    type_checks_in_counts: bool = False,
) -> Iterator[Prepared]:
    """`on_snapshot(conn)`: run as soon as the run's snapshot exists, before the schema is read (a
    run begins its pg_dump there, to read beside the checks: pg_native.SchemaDumps).

    `type_checks_in_counts`: the dry run counts every row of each copied table in one scan (but
    on SQLite), and takes the type map's checks of the data in that scan rather than in a scan of
    their own here: it calls `Prepared.refuse_types` after counting. A run checks here, before
    anything is written."""
    source_url, target_url = urls(loaded)
    engine = connect.open_source(source_url)
    try:
        with snapshot(engine) as conn:
            if on_snapshot is not None:
                on_snapshot(conn)
            reflected = reflect(conn)
            if not reflected.schema.tables:
                raise UsageError(f"the source database has no tables: {connect.redact(source_url)}")
            classes = _checked(loaded, reflected, engine)
            target = connect.backend(target_url)
            _refuse_other_schemas(loaded, reflected, classes, target)
            checks = None
            if loaded.plan.data.schema_ != "existing":
                # The type map (stores/sql/types.py) designs the target's columns: the source is read
                # as the map says, and values no target column could hold are refused here.
                read_as_stored(conn, reflected.metadata, target)
                columns = _type_checked_columns(loaded, reflected, classes)
                if type_checks_in_counts and conn.dialect.name != "sqlite":
                    checks = TypeChecks(conn, reflected.metadata, columns, target)
                else:
                    _raise_refused(loaded, refused_columns(conn, reflected.metadata, columns, target))
            elif target == conn.dialect.name:
                read_as_stored(conn, reflected.metadata, target)  # within one dialect: as stored, whatever the schema
            queries = SubsetSQL(reflected, classes, loaded.plan.data, conn)
            prep = Prepared(loaded, source_url, target_url, reflected, classes, queries, conn, engine, checks)
            try:
                _refuse_unreadable(prep)
                yield prep
            except Exception:
                if checks is not None and checks.tables and not prep.types_judged:
                    # What the checks here would have refused comes first, as it does in a run.
                    _refused_first(loaded, lambda: refused_columns(conn, reflected.metadata, columns, target))
                raise
    finally:
        engine.dispose()


def _checked(loaded: LoadedPlan, reflected: ReflectedSource, engine: Engine) -> Classification:
    """Every name and rule of the plan checked against the source, before anything is written
    anywhere: one PlanError with all the problems, or the tables' classification. The rules are
    judged only when every table and relation the plan names exists, as classifying needs them."""
    problems = schema_problems(loaded, reflected.schema)
    with expression_probe(engine, reflected) as rejects:
        expressions = expression_problems(loaded, reflected.schema, rejects)
    if problems:
        raise PlanError(_in_file_order(problems + expressions))
    reflected.schema = with_relations(reflected.schema, loaded.plan.data.relations)
    classes = classify(reflected.schema, loaded.plan.data)
    problems = expressions + rule_problems(loaded, reflected.schema, classes)
    if problems:
        raise PlanError(_in_file_order(problems))
    return classes


def _type_checked_columns(
    loaded: LoadedPlan, reflected: ReflectedSource, classes: Classification
) -> dict[str, list[str]]:
    """The columns the type map judges, per copied table: a column the plan drops or transforms is
    not copied as it is."""
    rules = loaded.plan.data
    return {
        table: [
            c.name
            for c in reflected.table(table).columns
            if (rule := rules.rule(table).columns.get(c.name)) is None or rule.action == "keep"
        ]
        for table in reflected.schema.tables
        if classes.copied(table)
    }


def _raise_refused(loaded: LoadedPlan, refused: list[Refusal]) -> None:
    """Columns whose values the target cannot hold (stores/sql/types.py): a plan error before any
    write, naming each column."""
    if refused:
        raise PlanError(
            [
                loaded.problem(
                    ("data", "tables", r.table, "columns", r.column),
                    r.reason,
                    f"drop or transform it in the plan: data.tables.{r.table}.columns.{r.column}: drop "
                    "(or nullify, {const: VALUE}); see docs/reference/types.md",
                )
                for r in refused
            ]
        )


def _refused_first(loaded: LoadedPlan, check: Callable[[], list[Refusal]]) -> None:
    """After another error, the deferred type checks' plan error, if they find anything: a run
    would have stopped at them first. Checks that cannot run leave the other error to be raised."""
    try:
        refused = check()
    except Exception:
        return
    _raise_refused(loaded, refused)


def _refuse_other_schemas(loaded: LoadedPlan, reflected: ReflectedSource, classes: Classification, target: str) -> None:
    """A table outside the source's current schema (`billing.invoices`) is copied into the same
    schema of a PostgreSQL target; MySQL and SQLite have no schemas to put it in, and a table named
    `billing.invoices` there would be a different table: refused, naming each, before any write."""
    if target == "postgresql":
        return
    elsewhere = [t for t in reflected.schema.tables if "." in t and classes.copied(t)]
    if elsewhere:
        raise PlanError(
            [
                loaded.problem(
                    ("data", "tables"),
                    f"{', '.join(elsewhere)} {'is' if len(elsewhere) == 1 else 'are'} outside the source's current "
                    f"schema, and a {target} target has no schemas to put {'it' if len(elsewhere) == 1 else 'them'} in",
                    "skip them in data.tables, or copy into PostgreSQL",
                )
            ]
        )


def _refuse_unreadable(prep: Prepared) -> None:
    """A copied table the source's user may not read stops everything here, before any write, like a
    store that refuses the connection (exit 2): the grant is the user's to fix."""
    if prep.engine.dialect.name == "sqlite":
        return  # no privileges: whoever may open the file reads every table
    columns = {table: prep.written_columns(table) for table in prep.copied_tables}
    refused = unreadable_tables(prep.engine, prep.source, columns)
    if refused:
        raise StoreUnavailable(
            f"the source refuses us ({MISSING_PRIVILEGE}): {connect.redact(prep.source_url)}: "
            f"its user may not read {', '.join(refused)}: grant SELECT on them, or skip them in the plan",
            MISSING_PRIVILEGE,
        )


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    return sorted(dict.fromkeys(problems), key=lambda p: (p.line or 0, p.key))

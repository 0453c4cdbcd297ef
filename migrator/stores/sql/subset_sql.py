"""The subset as SQL on the source (SPEC §3): one query per table, no write of any kind.

Each copied table T gets a CTE `kept_T` holding the keys of its subset (and the columns other
tables join on). A table's rows are then `SELECT ... FROM T WHERE <its rule>`, where the rule
refers to its parents' (or, for referenced tables, its children's) CTEs:

    root        root expression AND where AND constraints
    scoped      (EXISTS kept parent through ANY scope edge) AND where AND constraints
    all         where AND constraints
    referenced  EXISTS a kept child pointing at it, through ANY pull edge
    constraints for every edge with policy drop: the key is NULL OR EXISTS kept parent

A self-reference turns the CTE recursive (reply threads downwards, a management chain upwards).
Tables that depend on each other in a cycle are solved by iteration: start from the loosest sets
(everything for the scoped, nothing for the referenced), rebuild each level from the one before
and stop when the counts no longer change: the fixpoint that SPEC §3 rule 4 asks for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BinaryExpression, ColumnElement
from sqlalchemy.sql.operators import in_op

from migrator.errors import PermanentError
from migrator.plan.model import DataSection
from migrator.stores.sql.range_lookups import ColumnBounds, RangeRead, indexed, probe
from migrator.stores.sql.reflect import ReflectedSource
from migrator.subset.classify import Classification, Edge
from migrator.subset.cycles import strongly_connected

PREFIX = "m__"  # CTE columns are prefixed so that a user's where can never resolve to them
MAX_LEVELS = 30
# PostgreSQL materializes a CTE that is read more than once, and then guesses that it holds 200
# distinct keys: semi-joins against it become nested loops of index probes (seconds at scale 1,
# where a hash join over the table takes a tenth of that). Inlined, its definition is planned with
# the tables' statistics. Inlining copies the definition into every place that reads it, so a chain
# of kept sets that would expand beyond this many copies is left materialized.
MAX_INLINED_COPIES = 16
# A Gather's cost per row moved from a parallel worker, for a statement whose subquery PostgreSQL
# cannot size (see `SubsetSQL._counts_beside_recursion`); its default is 0.1. At the benchmark's
# scale 1 this took comments' counts from 0.59 s to 0.48 s (medians of ten).
PARALLEL_READS = {"parallel_tuple_cost": "0.01"}
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


class _Everything:
    """The loosest start of a greatest fixpoint: every row of the parent is taken as kept."""


class _Nothing:
    """The start of a least fixpoint, and the subset of a skipped table."""


EVERYTHING, NOTHING = _Everything(), _Nothing()
Kept = sa.CTE | sa.Table  # a kept set as a CTE, or stored in a table by a `KeptStore`
KeptRef = Kept | _Everything | _Nothing
# Stores a kept set once and gives back the table that holds it: (source table, name, its CTE,
# column sets to index). The dry run on SQLite stores them in TEMP tables (sqlite_kept.py).
KeptStore = Callable[[str, str, sa.CTE, list[tuple[str, ...]]], sa.Table]


def user_sql(expression: str) -> ColumnElement[bool]:
    """A plan's SQL fragment, parenthesised; the newline ends a trailing `--` comment, and colons
    are escaped so that PostgreSQL casts (`x::date`) are not taken for bind parameters."""
    escaped = _BIND.sub(r"\\:\1", expression)
    return sa.text(f"({escaped}\n)")  # type: ignore[return-value]


Columns = Callable[[str], ColumnElement[Any]]
# What a dangling count counts: the table's rows that meet a condition, or a count of its own.
Counted = ColumnElement[bool] | sa.ScalarSelect[Any]


def _kept_keys(kept: Kept | sa.Subquery, names: Sequence[str]) -> sa.Select:  # type: ignore[type-arg]
    """The non-null values of `names` in a kept set: what a reference to it can land on."""
    keys = [kept.c[PREFIX + n] for n in names]
    return sa.select(*keys).where(*[k.is_not(None) for k in keys])


def _in_kept(values: list[ColumnElement[Any]], kept: Kept | sa.Subquery, names: list[str]) -> ColumnElement[bool]:
    """`values IN (SELECT names FROM kept)`. Uncorrelated, so every database can run it as one
    hashed lookup, even under an OR (`fk IS NULL OR fk IN ...`), where a correlated EXISTS would be
    run once per row against an index-less CTE."""
    lookup = _kept_keys(kept, names)
    if len(values) == 1:
        return values[0].in_(lookup)
    return sa.tuple_(*values).in_(lookup)


def _filter_only(column: Columns) -> Columns:
    """The columns wrapped in likely(), which returns its argument: SQLite cannot search an index
    with a lookup on them and checks it on the rows found otherwise (see `SubsetSQL._index_driver`)."""
    return lambda name: sa.func.likely(column(name))


def _pairs(edge: Edge) -> list[tuple[str, str]]:
    """(child column, parent column) of a foreign key, in order."""
    return list(zip(edge.fk.child_columns, edge.fk.parent_columns, strict=True))


@dataclass
class TableQuery:
    """What the engine and the dry run need for one copied table."""

    table: str
    rows: sa.Select  # type: ignore[type-arg]
    order_by: tuple[str, ...]
    nullified: dict[str, ColumnElement[bool]] = field(default_factory=dict)
    key_columns: list[ColumnElement[Any]] = field(default_factory=list)  # `order_by` as the query reads them
    # A key range's rows cost that range, not the table: the table is read with its rule as the
    # WHERE, no CTE is evaluated whole, and each parent's kept set can be read for the range alone
    # (range_lookups.py: bounded, or probed through an index). A recursive or materialized CTE, or
    # a whole-row CTE read instead of the table, would be evaluated whole by every range's query
    # (engine/ranges.py: such a table is copied as one range).
    range_local: bool = False
    # The query of one key range, its parents' kept sets read as range_lookups.py says (without
    # the range's own bounds on the key, which the caller adds); None unless `range_local`.
    in_range: Callable[[RangeRead], sa.Select] | None = None  # type: ignore[type-arg]


class CountsRead(NamedTuple):
    source_rows: int | None  # every row of the table, when asked for
    rows: int | None  # the subset's rows, when asked for or needed
    dangling: list[tuple[Edge, int]]  # per edge, the rows that point outside the subset
    also: tuple[Any, ...] = ()  # the values of the caller's aggregates over the scan (`counts(also=...)`)


@dataclass
class SubsetCounts:
    """A table's row counts and its dangling rows per edge, read with one statement."""

    statement: sa.Select  # type: ignore[type-arg]
    edges: list[Edge]
    subtract: list[bool]  # per edge: the statement gives the rows its other rules keep, not its dangling rows
    with_rows: bool  # the statement's values start with the subset's row count
    with_source_rows: bool = False  # ... preceded by the table's own row count
    also: int = 0  # the statement's values end with this many of the caller's aggregates
    settings: dict[str, str] = field(default_factory=dict)  # PostgreSQL's, for this statement alone

    def read(self, conn: Connection) -> CountsRead:
        with _settings(conn, self.settings):
            values = list(conn.execute(self.statement).one())
        also = values[len(values) - self.also :]
        del values[len(values) - self.also :]
        source_rows = int(values.pop(0)) if self.with_source_rows else None
        rows = int(values.pop(0)) if self.with_rows else None
        dangling = [
            (edge, int(value) - int(rows or 0) if subtract else int(value))
            for edge, value, subtract in zip(self.edges, values, self.subtract, strict=True)
        ]
        return CountsRead(source_rows, rows, dangling, tuple(also))


@contextmanager
def _settings(conn: Connection, settings: dict[str, str]) -> Iterator[None]:
    """PostgreSQL's `settings` for the statements within, then the connection's own again. If a
    statement fails, its transaction is aborted, and rolling it back undoes the settings too."""
    for name, value in settings.items():
        conn.execute(sa.select(sa.func.set_config(name, value, False)))
    yield
    for name in settings:
        conn.execute(sa.text(f"RESET {name}"))


class _ParentLookups:
    """The kept sets one scan of a table looks its references up in, each LEFT JOINed to it once.

    Every count of the table (its subset, each relation's dangling rows, all its rows) is then a
    conditional count over that one scan: a semi-join per condition would read the table once per
    count and probe the same kept sets again each time. A kept set holds each parent row at most
    once (see `SubsetSQL._kept_cte`), so a join on the parent's key cannot repeat a row; a relation
    to columns that are not a key of the parent joins their distinct values. So does a kept set that
    a recursion or an iteration computes: PostgreSQL guesses such a set's size in billions and would
    hash the scanned table instead of it; of distinct values it guesses 200, and hashes those."""

    def __init__(self, table: sa.Table, distinct: Callable[[str, tuple[str, ...]], bool]):
        self._table = table
        self._distinct = distinct
        self.joined: sa.FromClause = table
        self._found: dict[tuple[str, tuple[str, ...], tuple[str, ...]], ColumnElement[bool]] = {}
        self._assumed: tuple[Edge, ColumnElement[bool]] | None = None

    @contextmanager
    def assuming(self, edge: Edge, lands: bool) -> Iterator[None]:
        """Within: the reference through `edge` is taken to land on a kept row (`lands`) or not,
        without a lookup (see `SubsetSQL._counts_beside_recursion`)."""
        self._assumed = (edge, sa.true() if lands else sa.false())
        try:
            yield
        finally:
            self._assumed = None

    def member(self, edge: Edge, parent: Kept) -> ColumnElement[bool]:
        """The row's reference through `edge` lands on a row of `parent`."""
        if self._assumed is not None and self._assumed[0] == edge:
            return self._assumed[1]
        lookup_key = (parent.name, edge.fk.child_columns, edge.fk.parent_columns)
        if lookup_key not in self._found:
            lookup = _kept_keys(parent, edge.fk.parent_columns)
            if self._distinct(edge.fk.parent, edge.fk.parent_columns):
                lookup = lookup.distinct()
            found = lookup.subquery(f"found_{len(self._found)}")
            on = sa.and_(*[self._table.c[c] == found.c[PREFIX + p] for c, p in _pairs(edge)])
            self.joined = self.joined.outerjoin(found, on)
            self._found[lookup_key] = found.c[PREFIX + edge.fk.parent_columns[0]].is_not(None)
        return self._found[lookup_key]


def _count_of(table: sa.Table, condition: ColumnElement[bool], lookups: _ParentLookups | None) -> ColumnElement[Any]:
    """The rows of `table` that meet `condition`: a conditional count in the scan of `lookups`
    (portable: MySQL has no FILTER), or a statement of its own."""
    if lookups is not None:
        return sa.func.count(sa.case((condition, sa.literal(1))))
    return sa.select(sa.func.count()).select_from(table).where(_one_lookup_searches(condition)).scalar_subquery()


def _one_lookup_searches(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """A dangling count leaves out the lookup that drives the row query, and may leave only a
    lookup wrapped in likely() (see `_filter_only`): likes' `likely(post_id) IN (kept posts)`,
    counted for the user_id relation, then reads the whole table. Alone, a lookup cannot multiply
    the probes, and an index on its column answers the count without reading a row: unwrapped."""
    if isinstance(condition, BinaryExpression) and condition.operator is in_op and _is_likely(condition.left):
        return condition.left.clauses.clauses[0].in_(condition.right)  # type: ignore[attr-defined,no-any-return]
    return condition


def _only_inlined_ctes(query: sa.Select) -> bool:  # type: ignore[type-arg]
    """Every CTE the query reads, however deep, is inlined into it by PostgreSQL (NOT MATERIALIZED,
    not recursive), so that the planner can restrict it to the rows a narrower query needs."""
    for element in visitors.iterate(query):
        if isinstance(element, sa.CTE):
            prefixes = " ".join(str(text) for text, _ in element._prefixes)
            if element.recursive or "NOT MATERIALIZED" not in prefixes:
                return False
    return True


def _is_likely(element: Any) -> bool:
    return isinstance(element, sa.sql.functions.Function) and element.name == "likely"


class SubsetSQL:
    def __init__(
        self,
        source: ReflectedSource,
        classes: Classification,
        data: DataSection,
        conn: Connection,
        *,
        store: KeptStore | None = None,
    ):
        """`store`: each kept set is evaluated once into a table, and the kept sets defined after it
        (its children's) read that table rather than repeat its definition."""
        self._source = source
        self._store = store
        self._classes = classes
        self._data = data
        self._conn = conn
        self._kept: dict[str, KeptRef] = {}
        self._drivers: dict[str, Edge | None] = {}
        components = strongly_connected(self._copied(), self._dependencies())
        self._iterated = {t for component in components if len(component) > 1 for t in component}
        self._guessed = self._iterated | {t for t in self._copied() if self._self_edge(t) is not None}
        for component in components:
            self._define(component)

    # -- public -------------------------------------------------------------------------------

    def rows(self, table: str) -> TableQuery:
        """The SELECT of every subset row of `table`, in key order, dangling references nulled.

        A plain table is read with its rule as the WHERE. Any other (referenced, recursive, in a
        cycle) is read from its CTE, which carries whole rows: joining the CTE back to the table
        would leave the planner to guess the size of a recursion, and it guesses in billions."""
        query, nulled = self._rows_query(table, None)
        order = self._order_columns(table)
        keys = [self._reader(table)(c) for c in order]
        local = bool(order) and self._is_plain(table) and _only_inlined_ctes(query)
        local = local and self._ranges_probe_indexes(table, order[0])
        in_range = None
        if local:

            def in_range(read: RangeRead) -> sa.Select:  # type: ignore[type-arg]
                return self._rows_query(table, ColumnBounds.of_range(order, read))[0]

        return TableQuery(table, query, order, nulled, keys, local, in_range)

    def _rows_query(self, table: str, ranged: ColumnBounds | None) -> tuple[sa.Select, dict[str, ColumnElement[bool]]]:  # type: ignore[type-arg]
        """The table's rows query (see `rows`); with `ranged`, the query of one key range, whose
        parents' kept sets are read as range_lookups.py says."""
        t = self._source.table(table)
        column = self._reader(table)
        nulled: dict[str, ColumnElement[bool]] = {}
        for edge in self._edges(table, "scope", "constraint"):
            if edge.policy == "nullify":
                for name in edge.fk.child_columns:
                    nulled[name] = self._member(edge, self._kept_of(edge.fk.parent), column, ranged=ranged)
        outputs: list[ColumnElement[Any]] = []
        for name in (c.name for c in t.columns):
            value = column(name)
            outputs.append((sa.case((nulled[name], value), else_=sa.null()) if name in nulled else value).label(name))
        keys = [column(c) for c in self._order_columns(table)]
        if self._is_plain(table):
            query = sa.select(*outputs).where(self._condition(table, self._kept_of, ranged=ranged))
        else:
            query = sa.select(*outputs).select_from(self._kept_cte_of(table))
        return query.order_by(*keys), nulled

    def count(self, table: str) -> sa.Select:  # type: ignore[type-arg]
        if self._is_plain(table) and not isinstance(self._kept[table], sa.Table):
            t = self._source.table(table)
            return sa.select(sa.func.count()).select_from(t).where(self._condition(table, self._kept_of))
        return sa.select(sa.func.count()).select_from(self._kept_cte_of(table))

    def _reader(self, table: str) -> Columns:
        """Where a table's subset rows are read from: the table itself, or its whole-row CTE."""
        if self._is_plain(table):
            return self._source.table(table).c.__getitem__
        kept = self._kept_cte_of(table)
        return lambda name: kept.c[PREFIX + name]

    def _kept_cte_of(self, table: str) -> Kept:
        kept = self._kept[table]
        assert isinstance(kept, sa.CTE | sa.Table)
        return kept

    def counts(
        self,
        table: str,
        policies: tuple[str, ...] = ("drop", "nullify", "fail"),
        *,
        with_rows: bool = True,
        with_source_rows: bool = False,
        also: Sequence[str] = (),
    ) -> SubsetCounts:
        """The table's subset rows (unless `with_rows` is False and no count subtracts them), all its
        rows (with `with_source_rows`) and, per edge whose policy is in `policies`, its dangling rows,
        as one statement that reads the table once (see `_ParentLookups`); the kept sets it looks
        up are computed once for all the counts.

        On PostgreSQL, a table that drops the rows below a dropped parent (reply threads) is
        counted beside its recursion (see `_counts_beside_recursion`), so that the scan of every
        row keeps its parallel workers.

        SQLite counts each value with a statement of its own (`lookups` None): it finds the rows of
        a `WHERE key IN (kept)` through the key's index, which a conditional count over the whole
        table cannot do, and it would flatten a joined kept set into a lookup of the parent table per
        scanned row. At the benchmark's scale 1 one scan took likes from 1.8 s to 4.1 s there."""
        t = self._source.table(table)
        lookups = None if self._conn.dialect.name == "sqlite" else _ParentLookups(t, self._joins_distinct)
        edges = [e for e in self._edges(table, "scope", "constraint") if e.policy in policies]
        self_edge = self._self_edge(table)
        if lookups is not None and self_edge is not None and self._counted_beside_recursion(table, self_edge):
            return self._counts_beside_recursion(
                table, self_edge, lookups, edges, with_rows=with_rows, with_source_rows=with_source_rows, also=also
            )
        counted = [self._dangling_rows(table, edge, lookups) for edge in edges]
        subtract = [s for _, s in counted]
        values = [value if isinstance(value, sa.ScalarSelect) else _count_of(t, value, lookups) for value, _ in counted]
        with_rows = with_rows or any(subtract)
        if with_rows:
            if isinstance(self._kept[table], sa.Table):
                # Stored once (see KeptStore): its rows are the subset, counted without the rule again.
                values.insert(0, self.count(table).scalar_subquery())
            elif self._is_plain(table):
                values.insert(0, _count_of(t, self._condition(table, self._kept_of, lookups=lookups), lookups))
            else:
                values.insert(0, self.count(table).scalar_subquery())
        if with_source_rows:
            # Without a WHERE, SQLite counts the entries of the table's smallest b-tree, reading no row.
            every = sa.select(sa.func.count()).select_from(t).scalar_subquery()
            values.insert(0, _count_of(t, sa.true(), lookups) if lookups is not None else every)
        assert not also or (lookups is not None and with_source_rows), "`also` needs the scan of every row"
        values += [sa.literal_column(aggregate) for aggregate in also]
        statement = sa.select(*values)
        if lookups is not None and any(not isinstance(value, sa.ScalarSelect) for value in values):
            # Counts over the scan; a statement of subqueries alone (the rows of a recursion and
            # what they point at) must not read the table, or it would give one row per row of it.
            statement = statement.select_from(lookups.joined)
        return SubsetCounts(statement, edges, subtract, with_rows, with_source_rows, len(also))

    def _counted_beside_recursion(self, table: str, self_edge: Edge) -> bool:
        """A table whose kept set is a recursion down its own `drop` reference, on PostgreSQL."""
        return (
            self._conn.dialect.name == "postgresql"
            and self_edge.policy == "drop"
            and self._classes.classes[table] != "referenced"
            and table not in self._iterated
            and isinstance(self._kept[table], sa.CTE)
        )

    def _counts_beside_recursion(
        self,
        table: str,
        self_edge: Edge,
        lookups: _ParentLookups,
        edges: list[Edge],
        *,
        with_rows: bool,
        with_source_rows: bool,
        also: Sequence[str],
    ) -> SubsetCounts:
        """`counts` of a table with a recursion down its own `drop` reference, the scan of its rows
        kept apart from the recursion.

        Its dangling rows depend on whether each row's parent is kept (K), which only the recursion
        knows; a scan that looks K up reads the recursion's result, and PostgreSQL then gives the
        whole scan no parallel worker (a CTE is read by the leader alone): a million comments were
        scanned, hashed three ways, on one core. Yet any count of a condition C over the rows is

            count(C with K false)  +  the sum, over the rows whose parent is kept, of
                                       (C with K true) - (C with K false)

        The first term is a scan without the recursion, in parallel. The rows whose parent is kept
        are those the recursion reaches: it finds each kept row's children anyway, and here it takes
        along, without going below them, the children that are not kept but whose counts K changes,
        each with its difference per count. The row count is the recursion's kept rows.
        At the benchmark's scale 1, comments' counts took 0.48 s, against 0.76-0.84 s in one scan
        and 0.32-0.41 s for their subset's count alone (docs/design-decisions.md)."""
        t = self._source.table(table)
        counted: dict[bool, list[tuple[Counted, bool]]] = {}
        for lands in (True, False):
            with lookups.assuming(self_edge, lands):
                counted[lands] = [self._dangling_rows(table, edge, lookups) for edge in edges]
        subtract = [s for _, s in counted[True]]
        with_rows = with_rows or any(subtract)
        differences = [
            sa.case((if_kept, 1), else_=0) - sa.case((if_not, 1), else_=0)
            for (if_kept, _), (if_not, _) in zip(counted[True], counted[False], strict=True)
            if not isinstance(if_kept, sa.ScalarSelect)
        ]
        # The recursion as `_downward_cte` builds it with `drop`, its tests over the scan's lookups.
        rule = self._condition(table, self._kept_of, in_recursion=True, lookups=lookups)
        in_scope: ColumnElement[bool] = sa.true()
        if self._classes.classes[table] == "scoped":
            in_scope = self._membership(table, self._kept_of, self._drop_constraints(table), lookups)
        pairs = _pairs(self_edge)
        no_parent = sa.and_(*[t.c[c].is_(None) for c, _ in pairs])
        own_parent = sa.and_(*[t.c[c] == t.c[p] for c, p in pairs])
        not_itself = sa.or_(*[t.c[c] != t.c[p] for c, p in pairs])
        keys = [t.c[p].label(PREFIX + p) for p in dict.fromkeys(p for _, p in pairs)]
        # Flags are named without PREFIX's double underscore, so that no key column can take their name.
        start = sa.select(
            *keys,
            sa.true().label("m_kept"),
            # A kept row that is its own parent is its own kept parent; a row without one has none.
            *[sa.case((own_parent, d), else_=0).label(f"m_d{n}") for n, d in enumerate(differences)],
        ).where(rule, in_scope, sa.or_(no_parent, own_parent))
        reached = start.select_from(lookups.joined).cte(f"counted_{table}", recursive=True)
        # The rows a step may reach, with what they count, as one subquery of the table and its
        # lookups that PostgreSQL hashes once for every step. OFFSET 0 keeps it whole (else the
        # lookups are joined to each step's rows, their kept sets hashed by the leader alone), and
        # `PARALLEL_READS` lets its workers read it: PostgreSQL cannot estimate how few rows the
        # lookups leave, and would move every row of the table from a worker at its default cost.
        children = (
            sa.select(
                *keys,
                *[t.c[c].label(f"m_up{n}") for n, (c, _) in enumerate(pairs)],
                sa.case((rule, sa.true()), else_=sa.false()).label("m_kept"),
                *[d.label(f"m_d{n}") for n, d in enumerate(differences)],
            )
            .select_from(lookups.joined)
            .where(not_itself, sa.or_(rule, *[d != 0 for d in differences]))
            .offset(0)
            .subquery(f"below_{table}")
        )
        on = sa.and_(*[children.c[f"m_up{n}"] == reached.c[PREFIX + p] for n, (_, p) in enumerate(pairs)])
        step = sa.select(
            *[children.c[k.name] for k in keys],
            children.c.m_kept,
            *[children.c[f"m_d{n}"] for n in range(len(differences))],
        ).select_from(children.join(reached, on))
        reached = reached.union_all(step.where(reached.c.m_kept))
        recursion = sa.select(
            sa.func.count(sa.case((reached.c.m_kept, 1))).label("rows"),
            *[sa.func.coalesce(sa.func.sum(reached.c[f"m_d{n}"]), 0).label(f"d{n}") for n in range(len(differences))],
        ).subquery("recursion")
        scanned = [
            _count_of(t, if_not, lookups) for if_not, _ in counted[False] if not isinstance(if_not, sa.ScalarSelect)
        ]
        scan_columns = [c.label(f"c{n}") for n, c in enumerate(scanned)]
        scan_columns.append(sa.func.count().label("source_rows"))
        scan_columns += [sa.literal_column(aggregate).label(f"also_{n}") for n, aggregate in enumerate(also)]
        scan = sa.select(*scan_columns).select_from(lookups.joined).subquery("scan")
        values: list[ColumnElement[Any]] = []
        conditions = 0
        for value, _ in counted[True]:
            if isinstance(value, sa.ScalarSelect):
                values.append(value)  # kept rows that point outside, counted over the kept set itself
            else:
                values.append(scan.c[f"c{conditions}"] + recursion.c[f"d{conditions}"])
                conditions += 1
        if with_rows:
            values.insert(0, recursion.c.rows)
        if with_source_rows:
            values.insert(0, scan.c.source_rows)
        values += [scan.c[f"also_{n}"] for n in range(len(also))]
        statement = sa.select(*values).select_from(recursion.join(scan, sa.true()))
        return SubsetCounts(statement, edges, subtract, with_rows, with_source_rows, len(also), PARALLEL_READS)

    def scans_every_row(self) -> bool:
        """`counts(with_source_rows=True)` reads every row of the table in one scan, to which `also`
        adds its aggregates: everywhere but SQLite, which counts each value with a statement."""
        return self._conn.dialect.name != "sqlite"

    def _dangling_rows(self, table: str, edge: Edge, lookups: _ParentLookups | None) -> tuple[Counted, bool]:
        """The rows that point at a parent that is not kept through `edge`: the condition they meet
        among the table's rows, or a count of them; or (second item True) those from which the
        subset's own row count is to be subtracted. Conditions are over the scan of `lookups`, if any."""
        t = self._source.table(table)
        parent = self._kept_of(edge.fk.parent)
        self_edge = self._self_edge(table)

        def condition() -> ColumnElement[bool]:
            return self._condition(table, self._kept_of, drop_policy_of=edge, lookups=lookups)

        if self._is_plain(table) and edge.policy == "drop" and not edge.fk.is_self_reference:
            # The rows every other rule keeps, less the subset: exactly those this edge drops. Cheaper
            # than the rows that fail the edge, which only a NOT IN over the whole table finds.
            return condition(), True
        if self._is_plain(table) or edge.fk.is_self_reference:
            # Rows dropped through a self-reference are those outside the recursive subset.
            base = condition()
        elif edge.policy == "drop":
            # The kept rows all resolve this edge: count the rows every other rule keeps instead.
            base = condition()
            if self_edge is not None and self_edge.policy == "drop":
                base = sa.and_(
                    base,
                    sa.or_(
                        *[t.c[c].is_(None) for c in self_edge.fk.child_columns],
                        self._member(self_edge, self._kept_of(table), under_or=True, lookups=lookups),
                    ),
                )
            if self._recursion_keeps_all_it_may(table, edge):
                # Then the rows the other rules keep, with this edge resolved, are the recursion's
                # rows exactly: subtract, as for a plain table.
                return base, True
        else:
            # Kept rows (with their references as read, before any nulling) that point outside.
            column = self._reader(table)
            not_null = sa.and_(*[column(c).is_not(None) for c in edge.fk.child_columns])
            outside = sa.not_(self._member(edge, parent, column))
            kept_rows = sa.select(sa.func.count()).select_from(self._kept_cte_of(table)).where(not_null, outside)
            return kept_rows.scalar_subquery(), False
        not_null = sa.and_(*[t.c[c].is_not(None) for c in edge.fk.child_columns])
        outside = sa.not_(self._member(edge, parent, lookups=lookups))
        return sa.and_(base, not_null, outside), False

    # -- structure ----------------------------------------------------------------------------

    def _copied(self) -> list[str]:
        return [t for t in self._source.schema.tables if self._classes.copied(t)]

    def _edges(self, table: str, *roles: str) -> list[Edge]:
        return self._classes.edges_from(table, *roles)  # type: ignore[arg-type]

    def _dependencies(self) -> dict[str, set[str]]:
        """T -> the tables whose kept sets T's kept set is defined from (self-references aside)."""
        deps: dict[str, set[str]] = {t: set() for t in self._copied()}
        for table in deps:
            if self._classes.classes[table] == "referenced":
                parents_of = [e.fk.child for e in self._classes.edges_to(table, "pull")]
            else:
                parents_of = [
                    e.fk.parent
                    for e in self._edges(table, "scope", "constraint")
                    if e.role == "scope" or e.policy == "drop"
                ]
            deps[table] |= {p for p in parents_of if p != table and p in deps}
        return deps

    def _define(self, component: list[str]) -> None:
        if len(component) == 1:
            table = component[0]
            self._kept[table] = self._stored(table, self._kept_cte(table, f"kept_{table}", self._kept_of))
            return
        # A cycle between tables: iterate from the loosest sets until nothing changes.
        referenced = self._classes.classes[component[0]] == "referenced"
        start: KeptRef = NOTHING if referenced else EVERYTHING
        level: dict[str, KeptRef] = dict.fromkeys(component, start)
        previous_counts: list[int] | None = None
        for depth in range(MAX_LEVELS):

            def ref(name: str, level: dict[str, KeptRef] = level) -> KeptRef:
                return level[name] if name in level else self._kept_of(name)

            level = {t: self._stored(t, self._kept_cte(t, f"kept_{t}_{depth}", ref)) for t in component}
            counts = [
                self._conn.execute(sa.select(sa.func.count()).select_from(level[t])).scalar_one()  # type: ignore[arg-type]
                for t in component
            ]
            if counts == previous_counts:
                break
            previous_counts = counts
        else:
            raise PermanentError(
                f"the foreign keys between {', '.join(component)} form a cycle whose subset did not settle in "
                f"{MAX_LEVELS} rounds (a chain of rows longer than that runs around it): break the cycle with "
                "dangling: nullify on one of its relations"
            )
        self._kept.update(level)

    def _stored(self, table: str, kept: sa.CTE) -> Kept:
        """The kept set, stored once by the `store` if there is one, indexed on its key and on every
        set of columns a reference to it looks up."""
        if self._store is None:
            return kept
        looked_up = [self._kept_key(table)]
        for edge in self._classes.edges_to(table, "scope", "constraint", "pull", "free"):
            looked_up.append(edge.fk.parent_columns)
        for edge in self._classes.edges_from(table, "pull"):
            looked_up.append(edge.fk.child_columns)
        if len(looked_up) == 1 and self._is_plain(table):
            # Nothing reads it but the table's own count, which a scan of the table gives as fast.
            return kept
        columns = set(self._kept_columns(table))
        indexed = [c for c in dict.fromkeys(looked_up) if c and set(c) <= columns]
        return self._store(table, kept.name, kept, indexed)

    def _kept_of(self, table: str) -> KeptRef:
        if not self._classes.copied(table):
            return NOTHING  # skipped: none of its rows exist in the target
        return self._kept[table]

    def _kept_columns(self, table: str) -> list[str]:
        """The subset's key, and every column another table joins on; whole rows where the rows
        themselves are read from the CTE (see `rows`)."""
        t = self._source.table(table)
        if not self._is_plain(table):
            return list(t.columns.keys())
        names = [c.name for c in t.primary_key.columns]
        for edge in self._classes.edges_to(table, "scope", "constraint", "pull", "free"):
            names += edge.fk.parent_columns
        for edge in self._classes.edges_from(table, "pull"):
            names += edge.fk.child_columns
        if not names:
            names = [c.name for c in t.columns]
        return list(dict.fromkeys(names))

    def _order_columns(self, table: str) -> tuple[str, ...]:
        info = self._source.schema.tables[table]
        return info.primary_key or (info.unique_keys[0] if info.unique_keys else ())

    # -- conditions ---------------------------------------------------------------------------

    def _member(
        self,
        edge: Edge,
        parent: KeptRef,
        child: Columns | None = None,
        *,
        under_or: bool = False,
        lookups: _ParentLookups | None = None,
        ranged: ColumnBounds | None = None,
    ) -> ColumnElement[bool]:
        """The child row's reference through `edge` lands on a kept parent row. `child` gives the
        child's columns when they are read from a CTE rather than from the table itself; `lookups`,
        the joined kept sets of a scan that counts; `ranged`, the bounds of a key range's rows
        (see `_range_member`)."""
        column = child or self._source.table(edge.fk.child).c.__getitem__
        if isinstance(parent, _Nothing):
            return sa.false()
        if isinstance(parent, _Everything):
            return sa.and_(*[column(c).is_not(None) for c in edge.fk.child_columns])
        if lookups is not None:
            return lookups.member(edge, parent)
        if ranged is not None:
            return self._range_member(edge, parent, column, ranged)
        if child is None and not self._may_drive_index(edge):
            # SQLite, without statistics, drives a composite key's index from every IN list on its
            # columns at once: a probe per pair of kept values (10,500 x 38,848 for the demo's likes).
            column = _filter_only(column)
        if edge.fk.parent in self._guessed and not under_or:
            # A recursion's or an iteration's result: the planner cannot size it, and a semi-join
            # it can hash whatever the size. Under an OR no semi-join is possible, and there an IN
            # list (hashed within work_mem) beats an EXISTS run once per row.
            # Aliased: for a self-reference read from the CTE, child and parent are the same CTE.
            other = parent.alias()
            return sa.exists().where(*[other.c[PREFIX + p] == column(c) for c, p in _pairs(edge)])
        return _in_kept([column(c) for c in edge.fk.child_columns], parent, list(edge.fk.parent_columns))

    def _condition(
        self,
        table: str,
        ref: Callable[[str], KeptRef],
        *,
        drop_policy_of: Edge | None = None,
        in_recursion: bool = False,
        lookups: _ParentLookups | None = None,
        ranged: ColumnBounds | None = None,
    ) -> ColumnElement[bool]:
        """The rule of a root, scoped or all table, its self-reference left to the recursion; with
        `ranged`, of the rows of one key range (see `_range_member`)."""
        t = self._source.table(table)
        kind = self._classes.classes[table]
        parts: list[ColumnElement[bool]] = []
        if kind == "root":
            parts.append(user_sql(self._data.roots[table]))
        where = self._data.rule(table).where
        if where:
            parts.append(user_sql(where))
        constrained = [
            e
            for e in self._edges(table, "scope", "constraint")
            if not e.fk.is_self_reference and e.policy == "drop" and e != drop_policy_of
        ]
        if kind == "scoped" and not in_recursion:
            parts.append(self._membership(table, ref, constrained, lookups, ranged))
        for edge in constrained:
            nulls = [t.c[c].is_(None) for c in edge.fk.child_columns if self._nullable(t, c)]
            member = self._member(edge, ref(edge.fk.parent), under_or=bool(nulls), lookups=lookups, ranged=ranged)
            parts.append(sa.or_(*nulls, member))
        return sa.and_(sa.true(), *parts)

    def _membership(
        self,
        table: str,
        ref: Callable[[str], KeptRef],
        constrained: list[Edge],
        lookups: _ParentLookups | None = None,
        ranged: ColumnBounds | None = None,
    ) -> ColumnElement[bool]:
        """In scope through ANY scope edge. Where the edge is also a drop constraint, a non-null key
        is enough here: the constraint already demands that its parent is kept."""
        t = self._source.table(table)
        scope = [e for e in self._edges(table, "scope") if not e.fk.is_self_reference]
        if self._scope_implied(table, constrained):
            # Left out, because an OR with a lookup in it makes PostgreSQL scan the whole table.
            return sa.true()
        return sa.or_(
            *[
                self._not_null(t, e)
                if e in constrained
                else self._member(e, ref(e.fk.parent), lookups=lookups, ranged=ranged)
                for e in scope
            ]
        )

    # -- one key range's lookups (range_lookups.py) ----------------------------------------------

    def _range_member(self, edge: Edge, parent: Kept, column: Columns, ranged: ColumnBounds) -> ColumnElement[bool]:
        """A reference looked up for one key range's rows: in the parent's kept set bounded by the
        range where the reference is the range's column, in its whole kept set where that costs no
        more than the range, else by one index probe per row."""
        values = [column(c) for c in edge.fk.child_columns]
        names = list(edge.fk.parent_columns)
        bounded = self._bounded_parent_column(edge, ranged.column)
        if bounded is not None:
            return _in_kept(values, self._kept_in_range(edge.fk.parent, ranged.on(bounded)), names)
        if ranged.costs_less(parent):
            return _in_kept(values, parent, names)
        return probe(parent, [(column(c), PREFIX + p) for c, p in _pairs(edge)])

    def _bounded_parent_column(self, edge: Edge, column: str) -> str | None:
        """The parent's column that a range's bounds on the child's `column` carry over to: the
        one `column` references, when the parent's kept set is a plain WHERE (not stored)."""
        parent = edge.fk.parent
        if not self._is_plain(parent) or not isinstance(self._kept_of(parent), sa.CTE):
            return None
        return dict(_pairs(edge)).get(column)

    def _kept_in_range(self, table: str, ranged: ColumnBounds) -> sa.Subquery:
        """The kept set of `table` within `ranged`'s bounds on one of its columns, its own lookups
        built for those rows alone in turn."""
        t = self._source.table(table)
        columns = [t.c[c].label(PREFIX + c) for c in self._kept_columns(table)]
        condition = self._condition(table, self._kept_of, ranged=ranged)
        return sa.select(*columns).where(*ranged.conditions(t.c[ranged.column]), condition).subquery()

    def _ranges_probe_indexes(self, table: str, column: str) -> bool:
        """Every lookup a key range's query may probe (any reference not bounded by the range, at
        any depth) probes a plain parent's kept set through an index. Else a range's query could
        only pass over that parent whole, and the table is copied as one range."""
        for edge in self._edges(table, "scope", "constraint"):
            parent = edge.fk.parent
            if edge.fk.is_self_reference or not self._classes.copied(parent):
                continue
            bounded = self._bounded_parent_column(edge, column)
            if bounded is not None:
                if not self._ranges_probe_indexes(parent, bounded):
                    return False
            elif not self._is_plain(parent) or not indexed(
                self._source.table(parent), self._source.schema.tables[parent], edge.fk.parent_columns
            ):
                return False
        return True

    def _recursion_keeps_all_it_may(self, table: str, edge: Edge) -> bool:
        """A self-referencing table (no cycle through others) whose every candidate is in scope on
        its own: a scoped table is when another `drop` key with NOT NULL columns is a scope key,
        since that key's constraint implies the scope (see `_membership`). Its subset is then the
        candidates whose chain of parents stays in the subset, and nothing else."""
        kind = self._classes.classes[table]
        if table in self._iterated or kind == "referenced":
            return False
        if kind != "scoped":
            return True
        return self._scope_implied(table, [e for e in self._drop_constraints(table) if e != edge])

    def _scope_implied(self, table: str, constrained: list[Edge]) -> bool:
        """A scope key among the `drop` constraints, with NOT NULL columns: its constraint demands a
        kept parent, so a non-null key, so the row is in scope through it whatever else holds."""
        t = self._source.table(table)
        scope = [e for e in self._edges(table, "scope") if not e.fk.is_self_reference]
        return any(e in constrained and not any(t.c[c].nullable for c in e.fk.child_columns) for e in scope)

    def _drop_constraints(self, table: str) -> list[Edge]:
        return [
            e for e in self._edges(table, "scope", "constraint") if not e.fk.is_self_reference and e.policy == "drop"
        ]

    @staticmethod
    def _nullable(t: sa.Table, column: str) -> bool:
        return bool(t.c[column].nullable)

    @staticmethod
    def _not_null(t: sa.Table, edge: Edge) -> ColumnElement[bool]:
        return sa.and_(*[t.c[c].is_not(None) for c in edge.fk.child_columns])

    def _may_drive_index(self, edge: Edge) -> bool:
        """Whether the IN lookup of `edge` may be used to search an index of the child table."""
        return self._conn.dialect.name != "sqlite" or self._index_driver(edge.fk.child) == edge

    def _index_driver(self, table: str) -> Edge | None:
        """On SQLite, the one reference of `table` whose IN lookup may search an index: the first
        whose columns lead the primary key (its rows then come in key order, as they are read),
        else one that leads another index. The other lookups are filters on the rows it finds.
        One list per table bounds the probes by the size of one kept set, with or without ANALYZE
        statistics; with two, SQLite may search the key for every combination of their values."""
        if table not in self._drivers:
            t = self._source.table(table)
            leading = [tuple(c.name for c in t.primary_key.columns)[:1]]
            # `Table.indexes` is a set: ranked by where their first column stands in the table (then by
            # name), so that every process picks the same driver, and so the same query plan.
            position = {c.name: n for n, c in enumerate(t.columns)}
            firsts = sorted((position[next(iter(i.columns)).name], i.name or "") for i in t.indexes if i.columns)
            leading += [(t.columns[n].name,) for n, _ in firsts]
            leading += [(u[0],) for u in self._source.schema.tables[table].unique_keys if u]
            edges = [e for e in self._edges(table, "scope", "constraint") if not e.fk.is_self_reference]
            ranked = [e for first in leading for e in edges if e.fk.child_columns[:1] == first]
            self._drivers[table] = ranked[0] if ranked else None
        return self._drivers[table]

    def _joins_distinct(self, table: str, columns: tuple[str, ...]) -> bool:
        """A scan that counts joins the distinct `columns` of the table's kept set (see `_ParentLookups`)."""
        info = self._source.schema.tables[table]
        is_key = set(columns) in [set(info.primary_key), *map(set, info.unique_keys)]
        return table in self._guessed or not is_key

    def _kept_key(self, table: str) -> tuple[str, ...]:
        return self._order_columns(table) or tuple(self._kept_columns(table))

    def _is_plain(self, table: str) -> bool:
        """A table whose rule is a plain WHERE: not referenced, not recursive, not in a cycle."""
        return (
            self._classes.classes[table] != "referenced"
            and table not in self._iterated
            and self._self_edge(table) is None
        )

    def _self_edge(self, table: str) -> Edge | None:
        roles = ("pull",) if self._classes.classes[table] == "referenced" else ("scope", "constraint")
        return next((e for e in self._edges(table, *roles) if e.fk.is_self_reference), None)

    # -- the CTEs -----------------------------------------------------------------------------

    def _kept_cte(self, table: str, name: str, ref: Callable[[str], KeptRef]) -> sa.CTE:
        """The kept set of `table`: each of its rows at most once (a WHERE over the table; a
        recursion that reaches a row only through its one parent, or a UNION), which the joins of
        `_ParentLookups` rely on."""
        t = self._source.table(table)
        columns = [t.c[c].label(PREFIX + c) for c in self._kept_columns(table)]
        if self._classes.classes[table] == "referenced":
            anchor_condition = sa.or_(
                *[
                    self._member_of_child(edge, ref(edge.fk.child))
                    for edge in self._classes.edges_to(table, "pull")
                    if not edge.fk.is_self_reference
                ]
            )
        else:
            anchor_condition = self._condition(table, ref)
        self_edge = self._self_edge(table)
        if self_edge is None:
            return self._plain_cte(
                sa.select(*columns).where(anchor_condition), name, inline=table not in self._iterated
            )
        if self._classes.classes[table] != "referenced":
            return self._downward_cte(table, self_edge, name, ref)
        # Upwards, for a referenced table: the parents (say, managers) of kept rows are kept too.
        kept = sa.select(*columns).where(anchor_condition).cte(name, recursive=True)
        on = sa.and_(*[t.c[p] == kept.c[PREFIX + c] for c, p in _pairs(self_edge)])
        return kept.union(sa.select(*columns).select_from(t.join(kept, on)))

    def _downward_cte(self, table: str, edge: Edge, name: str, ref: Callable[[str], KeptRef]) -> sa.CTE:
        """A table that points at itself (replies to comments, users invited by users), top-down.

        kept        with `drop`: the rows the table's rule allows and in scope on their own (a scoped
                    table's rows may also come in through their parent) with no parent (or
                    themselves as parent), then, level by level, the allowed rows whose parent is
                    kept. A row whose chain of parents leaves the subset is dropped with everything
                    below it.
                    With `nullify`: every allowed row in scope, then the allowed rows below them; a
                    parent outside the subset is nulled on the way out.

        Each step joins the rows found in the step before to their children through the table
        itself, whose statistics keep the planner's estimates sane, and the rows are carried whole,
        so nothing joins the recursion's result back (PostgreSQL guesses its size in billions).
        On PostgreSQL a step tests the rule on the children it reaches; elsewhere it looks them up
        in the candidates (`_candidate`).
        """
        t = self._source.table(table)
        pairs = _pairs(edge)
        names = self._kept_columns(table)
        scoped = self._classes.classes[table] == "scoped"
        rule = self._condition(table, ref, in_recursion=True)
        in_scope = self._membership(table, ref, self._drop_constraints(table)) if scoped else sa.true()
        start = [rule, in_scope]
        if edge.policy == "drop":
            no_parent = sa.and_(*[t.c[c].is_(None) for c, _ in pairs])
            own_parent = sa.and_(*[t.c[c] == t.c[p] for c, p in pairs])
            start.append(sa.or_(no_parent, own_parent))
        kept = sa.select(*[t.c[c].label(PREFIX + c) for c in names]).where(*start).cte(name, recursive=True)
        child: sa.FromClause
        if self._conn.dialect.name == "postgresql":
            # The rule tested on the children a step reaches, read from the table itself (the rule's
            # columns are the table's): the same rows as a lookup in the candidates, without the
            # rule evaluated over the whole table a second time for them. PostgreSQL hashes the
            # children that pass it once, in one scan, where the candidates took a scan of their
            # own (threads of comments at the benchmark's scale 3: 1.7-1.9 s against 2.1-2.3 s;
            # docs/benchmarks.md). With `nullify`, those in scope started the recursion.
            child = t
            allowed = rule if edge.policy == "drop" else sa.and_(rule, sa.not_(in_scope))
        else:
            child = t.alias(f"{name}_below")
            allowed = self._candidate(table, child, name, edge, rule, in_scope)
        on = sa.and_(*[child.c[c] == kept.c[PREFIX + p] for c, p in pairs])
        not_itself = sa.or_(*[child.c[c] != child.c[p] for c, p in pairs])  # a row that is its own parent
        step = sa.select(*[child.c[c].label(PREFIX + c) for c in names]).select_from(child.join(kept, on))
        return kept.union_all(step.where(allowed, not_itself))

    def _candidate(
        self,
        table: str,
        child: sa.FromClause,
        name: str,
        edge: Edge,
        rule: ColumnElement[bool],
        in_scope: ColumnElement[bool],
    ) -> ColumnElement[bool]:
        """A step's child (`child`, an alias of the table) among the candidates: the keys of the rows
        the table's rule allows, and whether each is in scope on its own; with `nullify`, among
        those not in scope (the others started the recursion)."""
        t = self._source.table(table)
        key = list(self._kept_key(table))
        candidates_query = sa.select(
            *[t.c[k].label(PREFIX + k) for k in key], in_scope.label(PREFIX + "in_scope")
        ).where(rule)
        candidates = self._plain_cte(candidates_query, f"{name}_candidates", inline=True)
        allowed = sa.select(*[candidates.c[PREFIX + k] for k in key])
        if edge.policy != "drop":
            allowed = allowed.where(sa.not_(candidates.c[PREFIX + "in_scope"]))
        members: list[ColumnElement[Any]] = [child.c[k] for k in key]
        if self._conn.dialect.name == "sqlite":
            # SQLite would drive the step from this IN list, a lookup per candidate for every row
            # found (hours at scale 1); likely() returns its argument and keeps it a plain filter.
            members = [sa.func.likely(m) for m in members]
        return members[0].in_(allowed) if len(members) == 1 else sa.tuple_(*members).in_(allowed)

    def _plain_cte(self, query: sa.Select, name: str, *, inline: bool) -> sa.CTE:  # type: ignore[type-arg]
        """A non-recursive CTE, inlined on PostgreSQL where that stays small (see MAX_INLINED_COPIES).
        The levels of an iterated cycle are never inlined: each reads the level before it twice or more."""
        cte = query.cte(name)
        if not inline or self._conn.dialect.name != "postgresql":
            return cte
        copies = sum(1 for element in visitors.iterate(query) if isinstance(element, sa.CTE))
        return cte.prefix_with("NOT MATERIALIZED") if copies <= MAX_INLINED_COPIES else cte

    def _member_of_child(self, edge: Edge, child: KeptRef) -> ColumnElement[bool]:
        """The parent row is pointed at by a kept child row through `edge`."""
        parent = self._source.table(edge.fk.parent)
        if isinstance(child, _Nothing):
            return sa.false()
        if isinstance(child, _Everything):
            raise AssertionError("referenced tables iterate from nothing")
        return _in_kept([parent.c[p] for p in edge.fk.parent_columns], child, list(edge.fk.child_columns))

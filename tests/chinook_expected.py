"""Independent expectations for the Chinook US split.

The rows a correct US split must copy are computed here with hand-written SQL against the source,
without importing anything from `migrator`: if the engine and these queries agree, it is because both
are right, not because they share a bug.

The plan semantic encoded here (tests/plans/chinook_us_*.yaml):
- Customer: root, `Country = 'USA'`;
- Invoice, InvoiceLine: scoped, every invoice of those customers and every line of those invoices;
- Employee: referenced, the support reps of those customers and everyone above them (ReportsTo chain);
- Track, Album, Artist, Genre, MediaType, Playlist, PlaylistTrack: `all`, every row.

The two Chinook files name things differently: the SQLite file in PascalCase (`InvoiceLine.InvoiceId`),
the PostgreSQL script in snake_case (`invoice_line.invoice_id`). Everything below is written once in
logical snake_case names and rendered through a `Naming` per style.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, create_engine, inspect, text

PASCAL = "pascal"  # the SQLite file: Customer.CustomerId
SNAKE = "snake"  # the PostgreSQL script: customer.customer_id
STYLES = (PASCAL, SNAKE)

Kind = Literal["int", "text", "money", "datetime"]

# Every Chinook table with its columns in the order both source files declare them, and the kind of
# value each holds (the kind decides how values are normalised so that SQLite, PostgreSQL and MariaDB
# compare equal). tests/test_chinook_expected.py checks this against both sources.
SCHEMA: dict[str, tuple[tuple[str, Kind], ...]] = {
    "album": (("album_id", "int"), ("title", "text"), ("artist_id", "int")),
    "artist": (("artist_id", "int"), ("name", "text")),
    "customer": (
        ("customer_id", "int"),
        ("first_name", "text"),
        ("last_name", "text"),
        ("company", "text"),
        ("address", "text"),
        ("city", "text"),
        ("state", "text"),
        ("country", "text"),
        ("postal_code", "text"),
        ("phone", "text"),
        ("fax", "text"),
        ("email", "text"),
        ("support_rep_id", "int"),
    ),
    "employee": (
        ("employee_id", "int"),
        ("last_name", "text"),
        ("first_name", "text"),
        ("title", "text"),
        ("reports_to", "int"),
        ("birth_date", "datetime"),
        ("hire_date", "datetime"),
        ("address", "text"),
        ("city", "text"),
        ("state", "text"),
        ("country", "text"),
        ("postal_code", "text"),
        ("phone", "text"),
        ("fax", "text"),
        ("email", "text"),
    ),
    "genre": (("genre_id", "int"), ("name", "text")),
    "invoice": (
        ("invoice_id", "int"),
        ("customer_id", "int"),
        ("invoice_date", "datetime"),
        ("billing_address", "text"),
        ("billing_city", "text"),
        ("billing_state", "text"),
        ("billing_country", "text"),
        ("billing_postal_code", "text"),
        ("total", "money"),
    ),
    "invoice_line": (
        ("invoice_line_id", "int"),
        ("invoice_id", "int"),
        ("track_id", "int"),
        ("unit_price", "money"),
        ("quantity", "int"),
    ),
    "media_type": (("media_type_id", "int"), ("name", "text")),
    "playlist": (("playlist_id", "int"), ("name", "text")),
    "playlist_track": (("playlist_id", "int"), ("track_id", "int")),
    "track": (
        ("track_id", "int"),
        ("name", "text"),
        ("album_id", "int"),
        ("media_type_id", "int"),
        ("genre_id", "int"),
        ("composer", "text"),
        ("milliseconds", "int"),
        ("bytes", "int"),
        ("unit_price", "money"),
    ),
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    table: (columns[0][0],) for table, columns in SCHEMA.items() if table != "playlist_track"
} | {"playlist_track": ("playlist_id", "track_id")}

# The 11 declared foreign keys, written out per style (child.column, parent.column) so that a typo in
# one style cannot hide behind a name conversion; the self-tests compare them with each source.
FOREIGN_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    PASCAL: (
        ("Album.ArtistId", "Artist.ArtistId"),
        ("Customer.SupportRepId", "Employee.EmployeeId"),
        ("Employee.ReportsTo", "Employee.EmployeeId"),
        ("Invoice.CustomerId", "Customer.CustomerId"),
        ("InvoiceLine.InvoiceId", "Invoice.InvoiceId"),
        ("InvoiceLine.TrackId", "Track.TrackId"),
        ("PlaylistTrack.PlaylistId", "Playlist.PlaylistId"),
        ("PlaylistTrack.TrackId", "Track.TrackId"),
        ("Track.AlbumId", "Album.AlbumId"),
        ("Track.GenreId", "Genre.GenreId"),
        ("Track.MediaTypeId", "MediaType.MediaTypeId"),
    ),
    SNAKE: (
        ("album.artist_id", "artist.artist_id"),
        ("customer.support_rep_id", "employee.employee_id"),
        ("employee.reports_to", "employee.employee_id"),
        ("invoice.customer_id", "customer.customer_id"),
        ("invoice_line.invoice_id", "invoice.invoice_id"),
        ("invoice_line.track_id", "track.track_id"),
        ("playlist_track.playlist_id", "playlist.playlist_id"),
        ("playlist_track.track_id", "track.track_id"),
        ("track.album_id", "album.album_id"),
        ("track.genre_id", "genre.genre_id"),
        ("track.media_type_id", "media_type.media_type_id"),
    ),
}

CATALOG_TABLES = ("track", "album", "artist", "genre", "media_type", "playlist", "playlist_track")
US = "USA"
SHOWN_ROWS = 5  # offending rows quoted in an assertion message
CENTS = Decimal("0.01")


def _pascal(snake_name: str) -> str:
    """`invoice_line` -> `InvoiceLine`, `support_rep_id` -> `SupportRepId`: exact for every Chinook name."""
    return "".join(part.capitalize() for part in snake_name.split("_"))


@dataclass(frozen=True)
class Naming:
    """Physical table and column names of one naming style, looked up by logical (snake_case) name."""

    style: str

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown Chinook naming style {self.style!r}; use one of {STYLES}")

    def name(self, logical: str) -> str:
        return _pascal(logical) if self.style == PASCAL else logical

    def table(self, logical_table: str) -> str:
        return self.name(logical_table)

    def columns(self, logical_table: str) -> list[str]:
        return [self.name(column) for column, _ in SCHEMA[logical_table]]

    def kinds(self, logical_table: str) -> list[Kind]:
        return [kind for _, kind in SCHEMA[logical_table]]

    def tables(self) -> dict[str, str]:
        """Physical name -> logical name, for every table."""
        return {self.table(logical): logical for logical in SCHEMA}

    def logical(self, physical_table: str) -> str:
        try:
            return self.tables()[physical_table]
        except KeyError:
            raise KeyError(f"{physical_table!r} is not a Chinook table in the {self.style} style") from None

    def foreign_keys(self) -> tuple[tuple[str, str], ...]:
        return FOREIGN_KEYS[self.style]


def naming_for(style_or_names: str | Naming) -> Naming:
    return style_or_names if isinstance(style_or_names, Naming) else Naming(style_or_names)


# --- normalisation: one canonical value per kind, whatever the database returned ----------------------


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    # SQLite keeps datetimes as text, in whatever form the writer chose ('2021-01-01 00:00:00',
    # '2021-01-01 00:00:00.000000', '2021-01-01T00:00:00'); fromisoformat reads all of them.
    return dt.datetime.fromisoformat(str(value))


def normalise(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "int":
        return int(value)
    if kind == "money":
        # SQLite stores NUMERIC(10,2) as REAL: str() of the float gives back the two-decimal literal.
        return Decimal(str(value)).quantize(CENTS)
    if kind == "datetime":
        # Wall-clock time only: the sources are TIMESTAMP WITHOUT TIME ZONE / DATETIME.
        return _as_datetime(value).replace(tzinfo=None).isoformat()
    return value.decode() if isinstance(value, bytes) else str(value)


def normalise_rows(kinds: list[Kind], rows: Iterable[Iterable[Any]]) -> set[tuple[Any, ...]]:
    return {tuple(normalise(kind, value) for kind, value in zip(kinds, row, strict=True)) for row in rows}


# --- reading rows -----------------------------------------------------------------------------------


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _select_list(conn: Connection, names: Naming, logical_table: str, alias: str) -> str:
    return ", ".join(f"{alias}.{_quote(conn, column)}" for column in names.columns(logical_table))


class SqlNames:
    """Renders logical names to quoted physical ones in the connection's dialect: `sql.t('customer')`."""

    def __init__(self, conn: Connection, names: Naming) -> None:
        self.conn, self.names = conn, names

    def t(self, logical_table: str) -> str:
        return _quote(self.conn, self.names.table(logical_table))

    def c(self, logical_column: str) -> str:
        return _quote(self.conn, self.names.name(logical_column))


def _expected_filters(sql: SqlNames) -> dict[str, str]:
    """WHERE clause (on alias `x`) selecting the expected rows of each non-catalog table."""
    us_customers = f"SELECT {sql.c('customer_id')} FROM {sql.t('customer')} WHERE {sql.c('country')} = '{US}'"
    us_invoices = (
        f"SELECT {sql.c('invoice_id')} FROM {sql.t('invoice')} WHERE {sql.c('customer_id')} IN ({us_customers})"
    )
    # Support reps of US customers, then up the ReportsTo chain until the top (NULL) is reached.
    needed_employees = (
        f"WITH RECURSIVE needed(id) AS ("
        f" SELECT {sql.c('support_rep_id')} FROM {sql.t('customer')}"
        f" WHERE {sql.c('country')} = '{US}' AND {sql.c('support_rep_id')} IS NOT NULL"
        f" UNION"
        f" SELECT e.{sql.c('reports_to')} FROM {sql.t('employee')} e JOIN needed n"
        f" ON e.{sql.c('employee_id')} = n.id WHERE e.{sql.c('reports_to')} IS NOT NULL"
        f") SELECT id FROM needed"
    )
    return {
        "customer": f"x.{sql.c('country')} = '{US}'",
        "invoice": f"x.{sql.c('customer_id')} IN ({us_customers})",
        "invoice_line": f"x.{sql.c('invoice_id')} IN ({us_invoices})",
        "employee": f"x.{sql.c('employee_id')} IN ({needed_employees})",
    }


def _read(conn: Connection, names: Naming, logical_table: str, where: str | None = None) -> set[tuple]:
    sql = SqlNames(conn, names)
    query = f"SELECT {_select_list(conn, names, logical_table, 'x')} FROM {sql.t(logical_table)} x"
    if where:
        query += f" WHERE {where}"
    return normalise_rows(names.kinds(logical_table), conn.execute(text(query)))


def expected_rows(source_conn: Connection, style: str | Naming) -> dict[str, set[tuple]]:
    """The exact rows the US split must copy, per physical table name, read from the source."""
    names = naming_for(style)
    filters = _expected_filters(SqlNames(source_conn, names))
    # Tables without a filter are the catalog (`all` in the plan): every row.
    return {names.table(logical): _read(source_conn, names, logical, filters.get(logical)) for logical in SCHEMA}


def target_rows(target_conn: Connection, style_or_names: str | Naming, table: str) -> set[tuple]:
    """All rows of `table` (physical name, as in the source) in the target, normalised like the source.

    Columns are read by name in the source's order, so a target that created them in another order still
    compares equal.
    """
    names = naming_for(style_or_names)
    return _read(target_conn, names, names.logical(table))


# --- the check --------------------------------------------------------------------------------------


def _sample(rows: Iterable[tuple]) -> str:
    shown = sorted(rows, key=repr)[:SHOWN_ROWS]
    return "\n".join(f"    {row!r}" for row in shown)


def _split_ref(ref: str) -> tuple[str, str]:
    table, column = ref.split(".")
    return table, column


def unresolved_references(conn: Connection, child_ref: str, parent_ref: str) -> list[tuple]:
    """Child rows whose non-NULL foreign key has no parent row (the LEFT JOIN finds no partner)."""
    child_table, child_column = _split_ref(child_ref)
    parent_table, parent_column = _split_ref(parent_ref)
    fk, pk = _quote(conn, child_column), _quote(conn, parent_column)
    query = (
        f"SELECT c.* FROM {_quote(conn, child_table)} c"
        f" LEFT JOIN {_quote(conn, parent_table)} p ON p.{pk} = c.{fk}"
        f" WHERE p.{pk} IS NULL AND c.{fk} IS NOT NULL"
    )
    return [tuple(row) for row in conn.execute(text(query))]


def integrity_failures(target_conn: Connection, names: Naming) -> list[str]:
    """I1: every declared foreign key of the source schema resolves in the target."""
    failures = []
    for child_ref, parent_ref in names.foreign_keys():
        orphans = unresolved_references(target_conn, child_ref, parent_ref)
        if orphans:
            failures.append(
                f"I1 integrity: {child_ref} -> {parent_ref} has {len(orphans)} unresolved reference(s)"
                f" in the target, e.g. (child row):\n{_sample(orphans)}"
            )
    return failures


def content_failures(table: str, expected: set[tuple], actual: set[tuple]) -> list[str]:
    """I2 (nothing outside the subset) and I3 (everything of the subset, same content) for one table."""
    failures = []
    if outside := actual - expected:
        failures.append(
            f"I2 residency: {table} has {len(outside)} target row(s) outside the expected US subset,"
            f" e.g.:\n{_sample(outside)}"
        )
    if missing := expected - actual:
        failures.append(
            f"I3 completeness: {table} lacks {len(missing)} expected row(s) in the target"
            f" (missing or with different content), e.g.:\n{_sample(missing)}"
        )
    return failures


def us_split_failures(expected: Mapping[str, set[tuple]], target_conn: Connection, names: Naming) -> list[str]:
    present = set(inspect(target_conn).get_table_names())
    absent = [table for table in expected if table not in present]
    if absent:
        # Without the tables nothing else can be queried meaningfully.
        return [f"the target lacks table(s) {absent}; it has {sorted(present)}"]
    failures = integrity_failures(target_conn, names)
    for table, rows in expected.items():
        failures += content_failures(table, rows, target_rows(target_conn, names, table))
    return failures


def assert_us_split(source_url: str, target_url: str, style: str | Naming) -> None:
    """Assert I1, I2 and I3 of the Chinook US split, reporting every failure at once."""
    names = naming_for(style)
    source, target = create_engine(source_url), create_engine(target_url)
    try:
        with source.connect() as source_conn:
            expected = expected_rows(source_conn, names)
        with target.connect() as target_conn:
            failures = us_split_failures(expected, target_conn, names)
    finally:
        source.dispose()
        target.dispose()
    assert not failures, "the target is not the Chinook US split:\n" + "\n".join(failures)

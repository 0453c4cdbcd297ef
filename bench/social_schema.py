"""The benchmark's social-platform schema, once, for every side that needs it.

The tables and columns are those of the demo app (``migrator/demo/generate.py``). In PostgreSQL the
timestamps are ``timestamptz``; in SQLite they are ISO-8601 text, as in the demo. The DDL is kept in
two parts, the bare tables and what is added after the load (primary keys, unique keys, foreign keys
and the indexes that back the foreign keys), so that the generator and the COPY limit can both load
bare tables and add the constraints afterwards, the way the fastest load does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    pg: str  # PostgreSQL type
    sqlite: str  # SQLite type
    not_null: bool = True


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...] = ("id",)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()  # non-unique, one per foreign key not led by the primary key

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _id() -> Column:
    return Column("id", "integer", "INTEGER")


def _ref(name: str, *, not_null: bool = True) -> Column:
    return Column(name, "integer", "INTEGER", not_null)


def _text(name: str, *, not_null: bool = True) -> Column:
    return Column(name, "text", "TEXT", not_null)


def _time(name: str, *, not_null: bool = True) -> Column:
    return Column(name, "timestamptz", "TEXT", not_null)


def _fk(column: str, parent: str) -> ForeignKey:
    return ForeignKey((column,), parent)


# Parents before children.
TABLES: tuple[Table, ...] = (
    Table("regions", (_id(), _text("code"), _text("name")), ("id",), unique=(("code",),)),
    Table(
        "users",
        (
            _id(),
            _ref("region_id"),
            _text("handle"),
            _text("email"),
            _text("phone", not_null=False),
            _text("display_name", not_null=False),
            _time("created_at"),
        ),
        ("id",),
        (_fk("region_id", "regions"),),
        unique=(("handle",),),
        indexes=(("region_id",),),
    ),
    Table(
        "follows",
        (_ref("follower_id"), _ref("followee_id"), _time("created_at")),
        ("follower_id", "followee_id"),
        (_fk("follower_id", "users"), _fk("followee_id", "users")),
        indexes=(("followee_id",),),
    ),
    Table(
        "posts",
        (_id(), _ref("author_id"), _text("body"), _time("created_at"), _time("deleted_at", not_null=False)),
        ("id",),
        (_fk("author_id", "users"),),
        indexes=(("author_id",),),
    ),
    Table(
        "comments",
        (
            _id(),
            _ref("post_id"),
            _ref("author_id"),
            _ref("parent_id", not_null=False),
            _text("body"),
            _time("created_at"),
        ),
        ("id",),
        (_fk("post_id", "posts"), _fk("author_id", "users"), _fk("parent_id", "comments")),
        indexes=(("post_id",), ("author_id",), ("parent_id",)),
    ),
    Table(
        "likes",
        (_ref("user_id"), _ref("post_id"), _time("created_at")),
        ("user_id", "post_id"),
        (_fk("user_id", "users"), _fk("post_id", "posts")),
        indexes=(("post_id",),),
    ),
    Table(
        "devices",
        (_id(), _ref("user_id"), _text("platform"), _text("push_token")),
        ("id",),
        (_fk("user_id", "users"),),
        indexes=(("user_id",),),
    ),
    # actor_id holds user ids WITHOUT a declared foreign key, as in the demo: the plan declares it.
    Table(
        "audit_events",
        (_id(), _ref("actor_id", not_null=False), _text("action"), _time("created_at")),
        ("id",),
    ),
)

BY_NAME = {t.name: t for t in TABLES}


def _cols(names: tuple[str, ...]) -> str:
    return ", ".join(names)


def _index_name(table: Table, columns: tuple[str, ...]) -> str:
    return f"{table.name}_{'_'.join(columns)}_idx"


# --- PostgreSQL -------------------------------------------------------------------------------------


def pg_bare(table: Table) -> str:
    """CREATE TABLE with columns and NOT NULL only: what a load goes fastest into."""
    columns = ", ".join(f"{c.name} {c.pg}{' NOT NULL' if c.not_null else ''}" for c in table.columns)
    return f"CREATE TABLE {table.name} ({columns})"


def pg_keys(table: Table) -> list[str]:
    """Primary key, unique keys and foreign-key indexes of one table (no foreign keys: see pg_foreign_keys)."""
    statements = [f"ALTER TABLE {table.name} ADD CONSTRAINT {table.name}_pkey PRIMARY KEY ({_cols(table.primary_key)})"]
    for columns in table.unique:
        name = f"{table.name}_{'_'.join(columns)}_key"
        statements.append(f"ALTER TABLE {table.name} ADD CONSTRAINT {name} UNIQUE ({_cols(columns)})")
    for columns in table.indexes:
        statements.append(f"CREATE INDEX {_index_name(table, columns)} ON {table.name} ({_cols(columns)})")
    return statements


def pg_foreign_keys(table: Table, present: set[str] | None = None) -> list[str]:
    """The foreign keys of one table; with `present`, only those whose parent table is there."""
    statements = []
    for fk in table.foreign_keys:
        if present is not None and fk.parent not in present:
            continue
        name = f"{table.name}_{'_'.join(fk.columns)}_fkey"
        statements.append(
            f"ALTER TABLE {table.name} ADD CONSTRAINT {name} FOREIGN KEY ({_cols(fk.columns)}) "
            f"REFERENCES {fk.parent} ({_cols(fk.parent_columns)})"
        )
    return statements


# --- SQLite -----------------------------------------------------------------------------------------


def sqlite_table(table: Table, schema: str = "main") -> str:
    """SQLite cannot add constraints to a table, so its tables are created with their keys declared
    (foreign keys are checked only with PRAGMA foreign_keys, which the loaders leave off)."""
    parts = [f"{c.name} {c.sqlite}{' NOT NULL' if c.not_null else ''}" for c in table.columns]
    parts.append(f"PRIMARY KEY ({_cols(table.primary_key)})")
    parts += [f"UNIQUE ({_cols(columns)})" for columns in table.unique]
    parts += [
        f"FOREIGN KEY ({_cols(fk.columns)}) REFERENCES {fk.parent} ({_cols(fk.parent_columns)})"
        for fk in table.foreign_keys
    ]
    return f"CREATE TABLE {schema}.{table.name} ({', '.join(parts)})"


def sqlite_indexes(table: Table, schema: str = "main") -> list[str]:
    return [
        f"CREATE INDEX {schema}.{_index_name(table, columns)} ON {table.name} ({_cols(columns)})"
        for columns in table.indexes
    ]

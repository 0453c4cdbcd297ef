"""What we know of a database's schema, as plain data (no SQLAlchemy objects outside stores/)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str  # the database's own spelling, for people: INTEGER, VARCHAR(60), JSONB
    nullable: bool
    kind: str  # "integer" | "text" | "other": what column transforms need to know
    length: int | None = None  # declared text length, or the integer's width in bits


@dataclass(frozen=True)
class ForeignKey:
    """child.child_columns -> parent.parent_columns, declared in the schema or in the plan."""

    child: str
    child_columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    declared: bool = True
    dangling: str | None = None  # a per-relation override of data.dangling

    @property
    def is_self_reference(self) -> bool:
        return self.child == self.parent

    def __str__(self) -> str:
        def side(table: str, cols: tuple[str, ...]) -> str:
            return f"{table}.{cols[0]}" if len(cols) == 1 else f"{table}.({', '.join(cols)})"

        return f"{side(self.child, self.child_columns)} -> {side(self.parent, self.parent_columns)}"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    unique_keys: tuple[tuple[str, ...], ...] = ()

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass
class Schema:
    tables: dict[str, Table]
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    def parents(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys if fk.child == table]

    def children(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys if fk.parent == table]

    def find(self, name: str) -> str | None:
        """The table called `name`, matching case-insensitively when the exact spelling is absent."""
        if name in self.tables:
            return name
        folded = [t for t in self.tables if t.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

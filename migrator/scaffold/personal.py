"""Columns that look personal, by name (names.PERSONAL_NAMES) and by a sample of their values
(e-mail addresses, phone numbers, IP addresses), each with the transform proposed for it.

A key column is never proposed (migrator refuses transforms on keys: subset/check.py), nor a column
of a skipped table (it is not copied). The action fits the column: `hash` where values must stay
distinct or joinable (e-mails, identity numbers, unique columns), `mask` for other text (it keeps
the shape), `nullify` for what is neither text nor integer when the column may be NULL.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from migrator.scaffold.model import PersonalColumn
from migrator.scaffold.names import personal_category, words
from migrator.subset.schema import Column, Schema, Table

if TYPE_CHECKING:
    from migrator.stores.sql.survey import Survey

SAMPLE_VALUES = 200  # distinct values read per text column
_SHARE = 0.9  # the part of the sampled values that must look alike

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[0-9(][0-9 ().\-/]{5,22}[0-9]$")
_DATE_LIKE = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}")
# Categories that make a table's rows about someone: a city or a bare name beside them is theirs.
_ABOUT_SOMEONE = {"email", "phone", "name", "address", "birth_date", "national_id", "credential", "ip"}
_LOOKS = {"email": "e-mail addresses", "phone": "phone numbers", "ip": "IP addresses"}


def personal_columns(survey: Survey, skipped: set[str], key_columns: set[tuple[str, str]]) -> list[PersonalColumn]:
    found: list[PersonalColumn] = []
    for name, table in survey.schema.tables.items():
        by_name = {c.name: personal_category(c.name) for c in table.columns}
        person_like = any(category in _ABOUT_SOMEONE for category in by_name.values())
        for column in table.columns:
            if (name, column.name) in key_columns:
                continue
            category = by_name[column.name]
            if category is None and person_like and words(column.name) == ("name",):
                category = "name"  # a bare `name` beside an e-mail or a phone names a person
            if category == "city" and not person_like:
                category = None  # the city column of a table of cities is a catalogue, not someone's city
            evidence: list[str] = ["name"] if category else []
            if column.kind == "text":
                looks = _values_look_like(survey.text_sample(name, column.name, SAMPLE_VALUES))
                if looks is not None:
                    kind, matched, sampled = looks
                    category = category or kind
                    evidence.append(f"values: {matched} of {sampled} sampled look like {_LOOKS[kind]}")
            if category is None:
                continue
            action, note = _action(category, column, table, name in skipped)
            found.append(PersonalColumn(name, column.name, category, tuple(evidence), action, note))
    return found


def key_columns_of(schema: Schema) -> set[tuple[str, str]]:
    """Primary and foreign key columns, as subset/check.py counts them."""
    keys = {(t.name, c) for t in schema.tables.values() for c in t.primary_key}
    for fk in schema.foreign_keys:
        keys |= {(fk.child, c) for c in fk.child_columns} | {(fk.parent, c) for c in fk.parent_columns}
    return keys


def _values_look_like(values: list[str]) -> tuple[str, int, int] | None:
    if len(values) < 3:
        return None  # too few to tell
    for kind, test in (("email", _is_email), ("ip", _is_ip), ("phone", _is_phone)):
        matched = sum(1 for v in values if test(v.strip()))
        if matched >= _SHARE * len(values):
            return kind, matched, len(values)
    return None


def _is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("/")[0])
    except ValueError:
        return False
    return True


def _is_phone(value: str) -> bool:
    digits = sum(ch.isdigit() for ch in value)
    separated = value.startswith("+") or any(ch in value for ch in " ()-.")
    return bool(_PHONE.match(value)) and 7 <= digits <= 15 and separated and not _DATE_LIKE.match(value)


def _action(category: str, column: Column, table: Table, skipped: bool) -> tuple[str | None, str]:
    if skipped:
        return None, "the table is skipped: nothing of it is copied"
    unique = any(column.name in key for key in table.unique_keys)
    if column.kind == "integer":
        return "hash", "hash keeps an integer an integer, distinct values distinct (needs MIGRATOR_HASH_KEY)"
    if column.kind == "text":
        if category in ("email", "national_id", "credential") or unique:
            why = "unique, so masked values could collide" if unique else "joins and distinct values survive"
            return "hash", f"{why} (needs MIGRATOR_HASH_KEY)"
        return "mask", "keeps the length and separators, hides the letters and digits"
    if column.nullable:
        return "nullify", f"a {column.type_name} column: neither masked nor hashed"
    return None, f"a NOT NULL {column.type_name} column: give it a {{const: VALUE}} yourself if it must change"

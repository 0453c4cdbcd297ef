"""What a table's or column's name suggests, as plain rules on words: the guesses `init` starts from.

Names are cut into lowercase words at underscores, dashes, spaces and case changes, so that
`BillingCountry`, `billing_country` and `billing-country` read alike.
"""

from __future__ import annotations

import re

# Columns that say which region, tenant or organisation a row belongs to: the likely root conditions.
# Weight: how surely the word names a split key (a tenant id more surely than a country).
ROOT_WORDS: dict[str, int] = {
    "tenant": 3,
    "workspace": 3,
    "organization": 3,
    "organisation": 3,
    "org": 3,
    "account": 2,
    "region": 2,
    "country": 2,
    "jurisdiction": 2,
    "residency": 2,
    "locale": 1,
}

# Tables whose rows record what happened rather than what is: proposed `skip`.
LOG_WORDS = {"log", "logs", "audit", "audits", "history", "event", "events", "session", "sessions", "token", "tokens"}
LOG_WORDS |= {"cache", "queue", "jobs", "migrations", "changelog", "activity", "tmp", "temp", "outbox"}

# Personal columns by name: category -> the word sequences that name it.
PERSONAL_NAMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "email": (("email",), ("e", "mail"), ("mail",), ("email", "address")),
    "phone": (("phone",), ("telephone",), ("mobile",), ("fax",), ("phone", "number"), ("cell",)),
    "name": (
        ("first", "name"),
        ("last", "name"),
        ("firstname",),
        ("lastname",),
        ("surname",),
        ("full", "name"),
        ("given", "name"),
        ("family", "name"),
        ("middle", "name"),
        ("contact", "name"),
        ("display", "name"),
        ("username",),
        ("user", "name"),
    ),
    "address": (("address",), ("street",), ("address", "line"), ("address1",), ("address2",), ("address", "2")),
    "city": (("city",),),
    "postal_code": (("zip",), ("zipcode",), ("zip", "code"), ("postal", "code"), ("postcode",), ("post", "code")),
    "ip": (("ip",), ("ip", "address"), ("ipaddress",), ("remote", "addr")),
    "birth_date": (("dob",), ("birth", "date"), ("birthdate",), ("date", "of", "birth"), ("birthday",)),
    "national_id": (("ssn",), ("social", "security", "number"), ("national", "id"), ("passport",)),
    "credential": (("password",), ("passwd",), ("password", "hash")),
}

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|[A-Z]+|\d+")


def words(name: str) -> tuple[str, ...]:
    """`BillingCountry` -> (billing, country); `customer_id` -> (customer, id); `IPAddress` -> (ip, address)."""
    return tuple(w.lower() for w in _WORDS.findall(name))


def root_weight(column: str) -> tuple[str, int] | None:
    """The root word a column name holds, and its weight; None for an ordinary column."""
    found = [(w, ROOT_WORDS[w]) for w in words(column) if w in ROOT_WORDS]
    return max(found, key=lambda f: f[1]) if found else None


def singular(word: str) -> str:
    """`countries` -> country, `tenants` -> tenant, `addresses` -> address: enough for table names."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def looks_like_log(table: str) -> bool:
    return any(w in LOG_WORDS for w in words(table.rsplit(".", 1)[-1]))


def personal_category(column: str) -> str | None:
    """The personal data a column's name suggests (a whole-name match, or one at its end)."""
    said = words(column)
    matches = [
        (said == spelling, len(spelling), category)
        for category, spellings in PERSONAL_NAMES.items()
        for spelling in spellings
        if said == spelling or (len(said) > len(spelling) and said[-len(spelling) :] == spelling)
    ]
    return max(matches)[2] if matches else None  # `IPAddress` is an ip rather than an address


def reference_stem(column: str) -> tuple[str, ...] | None:
    """The words before a trailing id (`customer_id`, `CustomerId`, `customerID`), or None."""
    said = words(column)
    if len(said) >= 2 and said[-1] == "id":
        return said[:-1]
    return None


def names_table(stem: tuple[str, ...], table: str) -> bool:
    """Whether a table is named for a reference's stem: customer or customers for customer_id,
    categories for category_id; customer_accounts is not."""
    said = words(table.rsplit(".", 1)[-1])
    return len(said) == len(stem) and said[:-1] == stem[:-1] and singular(said[-1]) == singular(stem[-1])

"""The plan as frozen, validated objects (SPEC §2).

Shorthands in the YAML (`regions: all`, `email: hash`, `{const: 0}`) are normalised into one model
each by before-validators, so the rest of the code sees a single shape. Every model forbids unknown
keys; `load.py` turns pydantic's errors into Problems with lines and "did you mean" hints.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from migrator.plan.codebase_model import CodebaseSection, GitSettings

Dangling = Literal["drop", "nullify", "fail"]
ColumnAction = Literal["keep", "hash", "mask", "nullify", "drop", "const"]
ColumnActionName = Literal["keep", "hash", "mask", "nullify", "drop"]
_COLUMN_ACTIONS = ("keep", "hash", "mask", "nullify", "drop")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _choice_error(choices: tuple[str, ...], given: Any, alternative: str) -> PydanticCustomError:
    return PydanticCustomError(
        "choice", f"must be one of {{choices}} or {alternative}", {"choices": " | ".join(choices), "given": given}
    )


def _column_rule(value: Any) -> Any:
    if isinstance(value, str):
        if value not in _COLUMN_ACTIONS:
            raise _choice_error(_COLUMN_ACTIONS, value, "a {const: VALUE} mapping")
        return {"action": value}
    if isinstance(value, dict) and "const" in value:
        # Other keys pass through so that pydantic names each unknown one.
        extras = {k: v for k, v in value.items() if k != "const"}
        return {"action": "const", "value": value["const"], **extras}
    raise _choice_error(_COLUMN_ACTIONS, value, "a {const: VALUE} mapping")


class ConstColumn(_Frozen):
    """What a user writes for a fixed value; only used to describe the input in the JSON Schema."""

    const: Any


class ColumnRule(_Frozen):
    yaml_keys: ClassVar[list[str]] = ["const"]  # what a user writes; `action` is our normal form

    action: ColumnAction
    value: Any = None

    @property
    def keeps_column(self) -> bool:
        return self.action != "drop"


def _table_rule(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("all", "skip"):
            raise _choice_error(("all", "skip"), value, "a mapping (copy, where, columns)")
        return {"copy": value}
    return value


class TableRule(_Frozen):
    """How one table is treated. `copy` forces a class; `where` narrows; `columns` transforms."""

    copy_: Literal["all", "skip"] | None = Field(default=None, alias="copy")
    where: str | None = None
    columns: dict[
        str,
        Annotated[ColumnRule, BeforeValidator(_column_rule, json_schema_input_type=ColumnActionName | ConstColumn)],
    ] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# TABLE.COLUMN, where a table outside the source's current schema is SCHEMA.TABLE (billing.invoices.user_id).
_COLUMN_REF = re.compile(r"^(?P<table>[^.()\s]+(?:\.[^.()\s]+)?)\.(?:(?P<column>[^.()\s,]+)|\((?P<columns>[^()]+)\))$")


class ColumnRef(_Frozen):
    table: str
    columns: tuple[str, ...]

    def __str__(self) -> str:
        cols = self.columns[0] if len(self.columns) == 1 else f"({', '.join(self.columns)})"
        return f"{self.table}.{cols}"


def _column_ref(value: Any) -> Any:
    if isinstance(value, str) and (m := _COLUMN_REF.match(value.strip())):
        cols = [m["column"]] if m["column"] else [c.strip() for c in m["columns"].split(",")]
        return {"table": m["table"], "columns": tuple(cols)}
    raise PydanticCustomError(
        "column_ref", "must be TABLE.COLUMN or TABLE.(COL1, COL2), got {given}", {"given": repr(value)}
    )


Ref = Annotated[ColumnRef, BeforeValidator(_column_ref, json_schema_input_type=str)]


class Relation(_Frozen):
    """A foreign key the schema does not declare."""

    from_: Ref = Field(alias="from")
    to: Ref
    dangling: Dangling | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _split_by_yaml(cls, value: Any) -> Any:
        """`{from: a.(x, y), to: ...}` reaches us cut at the comma: say so once, with the fix."""
        if not isinstance(value, dict):
            return value
        stray = [k for k in value if isinstance(k, str) and k.rstrip().endswith(")")]
        cut = [v for k, v in value.items() if k in ("from", "to") and isinstance(v, str) and "(" in v and ")" not in v]
        if stray and cut:
            example = f"{cut[0]}, {stray[0].strip()}"
            raise PydanticCustomError(
                "composite_in_braces",
                'a composite reference inside {...} must be quoted, e.g. from: "{example}" '
                "(YAML splits {...} at every comma)",
                {"example": example},
            )
        return value


TableInput = Literal["all", "skip"] | TableRule


class DataSection(_Frozen):
    roots: dict[str, str] = Field(default_factory=dict)
    tables: dict[str, Annotated[TableRule, BeforeValidator(_table_rule, json_schema_input_type=TableInput)]] = Field(
        default_factory=dict
    )
    relations: list[Relation] = Field(default_factory=list)
    dangling: Dangling = "drop"
    unlisted: Literal["fail", "skip"] = "fail"
    schema_: Literal["create", "existing"] = Field(default="create", alias="schema")
    chunk_rows: int = Field(default=50_000, ge=1, le=10_000_000, strict=True)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def rule(self, table: str) -> TableRule:
        return self.tables.get(table) or TableRule()


class S3Settings(_Frozen):
    """How to reach one side's S3-compatible endpoint (SPEC §2 `s3`). Every key is optional: with
    none, boto3's own chain decides (environment, profile, instance role), as the AWS CLI does."""

    endpoint_url: str | None = None  # MinIO, SeaweedFS, Ceph, R2...; AWS itself when unset
    region: str | None = None
    profile: str | None = None  # a named profile of ~/.aws/config
    access_key_id: str | None = None  # give both keys as ${VAR}s, never literally
    secret_access_key: str | None = None
    session_token: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Some S3-compatible servers reject the newest checksum headers: `when_required` turns them off.
    request_checksum_calculation: Literal["when_supported", "when_required"] | None = None
    response_checksum_validation: Literal["when_supported", "when_required"] | None = None

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> S3Settings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise PydanticCustomError(
                "key_pair", "access_key_id and secret_access_key go together: give both, or neither", {}
            )
        if self.profile is not None and self.access_key_id is not None:
            raise PydanticCustomError("profile_or_keys", "give either profile or access keys, not both", {})
        return self


class SourceSide(_Frozen):
    database: str | None = None
    objects: str | None = None  # s3://bucket[/prefix], file:///path or a plain path
    flags: str | None = None  # a flag-definition file: a path, or s3://bucket/key (with `s3`)
    s3: S3Settings | None = None
    codebase: str | None = None  # git repositories: a base URL, or a folder of repositories
    git: GitSettings | None = None


class TargetSide(_Frozen):
    database: str | None = None
    objects: str | None = None
    flags: str | None = None
    s3: S3Settings | None = None
    codebase: str | None = None
    git: GitSettings | None = None
    # Target tables that already hold rows, and target objects the plan did not select (SPEC §5).
    existing: Literal["fail", "truncate", "merge"] = "fail"


class ArtifactsEntry(_Frozen):
    """One selection of objects (SPEC §7): keys under `prefix`, kept by the globs, then by metadata."""

    prefix: str = ""
    include: list[str] = Field(default_factory=list)  # none: every key under the prefix
    exclude: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)  # user metadata; keys case-insensitive, values globs


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class FlagsSection(_Frozen):
    """Which feature flags move, and how they change for the target (SPEC §7)."""

    include: list[str] = Field(default_factory=list)  # flag-key globs; none: every flag
    exclude: list[str] = Field(default_factory=list)
    set: dict[str, dict[str, Any]] = Field(default_factory=dict)  # flag key -> override, deep-merged into it
    context: dict[str, Any] = Field(default_factory=dict)  # attributes fixed everywhere in the target
    dead_rules: Literal["drop", "keep", "fail"] = "drop"  # targeting that can never match in the target
    rename: dict[str, str] = Field(default_factory=dict)  # source key -> target key
    prefix: str = ""  # put before every copied key
    # A renamed flag whose targeting uses `fractional` moves users between buckets (the bucket hashes
    # the key): refused, unless the old key is kept as the bucketing seed in the rewritten rule.
    bucketing: Literal["refuse", "keep-old-key"] = "refuse"
    source_format: Literal["auto", "flagd", "unleash"] = "auto"  # auto: told by the document's shape


class Plan(_Frozen):
    version: Literal[1]
    name: str
    description: str | None = None
    source: SourceSide
    target: TargetSide
    state: str | None = None
    data: DataSection = Field(default_factory=DataSection)
    artifacts: list[ArtifactsEntry] | None = Field(default=None, min_length=1)
    flags: FlagsSection | None = None
    codebase: CodebaseSection | None = None

    @property
    def copies_tables(self) -> bool:
        """The data part is in the plan when the sides name databases (the loader demands both)."""
        return self.source.database is not None

    @property
    def copies_objects(self) -> bool:
        return self.artifacts is not None

    @property
    def copies_flags(self) -> bool:
        return self.flags is not None

    @property
    def copies_codebase(self) -> bool:
        """Git repositories are in the plan with a `codebase` section (the loader demands both sides' locations)."""
        return self.codebase is not None

    @field_validator("name")
    @classmethod
    def _name_is_a_file_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise PydanticCustomError(
                "name",
                "must be letters, digits, '.', '_' or '-' (it names the state folder), got {given}",
                {"given": repr(value)},
            )
        return value

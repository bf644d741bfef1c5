"""TableSpec: the plain, immutable intermediate form of a table definition.

Definition text is parsed into a `TableSpec` (declare.py); a backend turns a
`TableSpec` into DDL. The catalog reader rebuilds the same structure from an
existing table, so declaration and introspection meet in one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from djframe.define.heading import Attribute, Heading

TIER_PREFIXES = {"manual": "", "lookup": "#", "imported": "_", "computed": "__"}


@dataclass(frozen=True)
class ForeignKeySpec:
    """A foreign key from this table to the parent's full primary key."""

    parent_schema: str
    parent_table: str
    attr_map: tuple[tuple[str, str], ...]  # (child attribute, parent attribute), parent PK order
    nullable: bool = False
    unique: bool = False
    in_key: bool = False

    @property
    def child_attributes(self) -> list[str]:
        return [c for c, _ in self.attr_map]

    @property
    def parent_attributes(self) -> list[str]:
        return [p for _, p in self.attr_map]

    @property
    def aliased(self) -> bool:
        return any(c != p for c, p in self.attr_map)


@dataclass(frozen=True)
class IndexSpec:
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class TableSpec:
    """Everything needed to create one table."""

    schema: str
    table_name: str
    tier: str  # manual | lookup | imported | computed | part
    attributes: tuple[Attribute, ...]
    foreign_keys: tuple[ForeignKeySpec, ...] = ()
    indexes: tuple[IndexSpec, ...] = ()
    comment: str = ""
    lineage: dict = field(default_factory=dict)  # attribute -> "schema.table.attr"

    @property
    def primary_key(self) -> list[str]:
        return [a.name for a in self.attributes if a.in_key]

    @cached_property
    def heading(self) -> Heading:
        """Built once per spec: every query on a table asks for it."""
        return Heading(self.attributes, f"{self.schema}.{self.table_name}")

"""Attributes and headings.

A `Heading` is the ordered set of attributes of a table or of a query result,
with the primary key marked. Headings of tables are rebuilt from the database
catalog (see `catalog.py`), so any process can use a table without its class.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pyarrow as pa

from .errors import UnknownAttributeError
from .types import CoreType, arrow_type


@dataclass(frozen=True)
class Attribute:
    """One attribute (column) of a heading."""

    name: str
    type: CoreType
    in_key: bool = False
    nullable: bool = False
    default: str | None = None  # literal default text (unquoted); None with has_default => NULL
    has_default: bool = False
    default_is_expression: bool = False  # CURRENT_TIMESTAMP and friends
    comment: str = ""
    lineage: str | None = None
    autoincrement: bool = False
    hidden: bool = False
    sql_type: str = ""  # the column type as the catalog reports it
    expression: str | None = None  # set on computed attributes of projections

    @property
    def arrow_type(self) -> pa.DataType:
        return arrow_type(self.type)

    @property
    def required(self) -> bool:
        """An insert must give a value (no default, not nullable, not auto-increment)."""
        return not (self.nullable or self.has_default or self.autoincrement)

    @property
    def is_blob(self) -> bool:
        return self.type.kind in ("bytes", "codec")

    @property
    def codec(self) -> str | None:
        return self.type.codec

    @property
    def store(self) -> str | None:
        return self.type.store

    @property
    def original_type(self) -> str:
        return self.type.text

    def evolve(self, **changes) -> "Attribute":
        return replace(self, **changes)


@dataclass(frozen=True)
class Heading:
    """An ordered, immutable collection of attributes (hidden ones included, flagged)."""

    all_attributes: tuple[Attribute, ...] = field(default_factory=tuple)
    table: str = ""  # for error messages: the table or expression this heading describes

    def __post_init__(self):
        """Index the attributes once: headings are immutable and asked for names on every insert."""
        visible = [a for a in self.all_attributes if not a.hidden]
        object.__setattr__(self, "_by_name", {a.name: a for a in self.all_attributes})
        object.__setattr__(self, "_names", tuple(a.name for a in visible))
        object.__setattr__(self, "_key", tuple(a.name for a in visible if a.in_key))
        object.__setattr__(self, "_secondary", tuple(a.name for a in visible if not a.in_key))
        object.__setattr__(self, "has_codecs", any(a.type.kind == "codec" for a in self.all_attributes))

    @property
    def attributes(self) -> dict[str, Attribute]:
        return {a.name: a for a in self.all_attributes if not a.hidden}

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def primary_key(self) -> list[str]:
        return list(self._key)

    @property
    def secondary_attributes(self) -> list[str]:
        return list(self._secondary)

    @property
    def blobs(self) -> list[str]:
        return [a.name for a in self.all_attributes if a.is_blob and not a.hidden]

    @property
    def non_blobs(self) -> list[str]:
        return [a.name for a in self.all_attributes if not a.is_blob and not a.hidden]

    def __getitem__(self, name: str) -> Attribute:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownAttributeError(
                f"Attribute `{name}` is not in the heading of {self.table or 'the expression'}; "
                f"available attributes: {', '.join(self.names)}. Check the attribute name."
            ) from None

    def __contains__(self, name) -> bool:
        return name in self._by_name and not self._by_name[name].hidden

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def get(self, name, default=None):
        return self._by_name.get(name, default)

    def with_attributes(self, attributes, table=None) -> "Heading":
        return Heading(tuple(attributes), table if table is not None else self.table)

    def arrow_schema(self, names=None) -> pa.Schema:
        names = self.names if names is None else names
        return pa.schema([pa.field(n, self[n].arrow_type, nullable=True) for n in names])

    def __repr__(self):
        lines = []
        if self.table:
            lines.append(f"# {self.table}")
        in_key = True
        for a in self.all_attributes:
            if a.hidden:
                continue
            if in_key and not a.in_key:
                lines.append("---")
                in_key = False
            default = ""
            if a.nullable:
                default = " = null"
            elif a.has_default:
                default = f" = {a.default}"
            comment = f"  # {a.comment}" if a.comment else ""
            lines.append(f"{a.name}{default} : {a.type.text}{comment}")
        return "\n".join(lines)

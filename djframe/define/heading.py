"""Attributes and headings.

A `Heading` is the ordered set of attributes of a table or of a query result,
with the primary key marked. Headings of tables are rebuilt from the database
catalog (see `catalog.py`), so any process can use a table without its class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pyarrow as pa

from djframe.errors import DataJointError, UnknownAttributeError
from djframe.define.types import CoreType, arrow_type


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

    # ----- the reference's classification flags (read by user code and tools) ---------------
    @property
    def numeric(self) -> bool:
        """Integer, float, decimal or bool (core or native SQL type)."""
        return self.type.is_numeric or (self.type.kind == "native" and bool(_NATIVE_NUMERIC.match(self.type.text)))

    @property
    def string(self) -> bool:
        return self.type.is_string or (self.type.kind == "native" and bool(_NATIVE_STRING.match(self.type.text)))

    @property
    def uuid(self) -> bool:
        return self.type.kind == "uuid"

    @property
    def json(self) -> bool:
        """The json type, or a codec that itself stores JSON (``<object@>``, ``<hash@>``; as the reference
        reports it, ``<blob@>`` is not: its blob bytes go to an inner ``<hash>``)."""
        if self.type.kind != "codec":
            return self.type.kind == "json"
        try:
            chain = self._codec_chain()
        except DataJointError:  # an unregistered codec: nothing is known about its storage
            return False
        return len(chain) == 1 and self.type.storage.kind == "json"

    @property
    def is_hidden(self) -> bool:
        return self.hidden

    @property
    def attribute_expression(self) -> str | None:
        return self.expression

    @property
    def dtype(self):
        """The numpy type of this attribute's column in a structured array (`Heading.as_dtype`)."""
        if not self.numeric or self.type.kind == "decimal" or (self.type.kind == "native" and
                                                              self.type.text.startswith("numeric")):
            return object
        if self.type.kind in ("float32", "float64") or _NATIVE_FLOAT.match(self.type.text):
            return np.float64
        return np.int64

    @property
    def is_hash_object(self) -> bool:
        """Content-addressed in a store (``<hash@>``, ``<blob@>``, ``<attach@>``): garbage-collected by hash."""
        chain = self._codec_chain()
        return any(codec.name == "hash" for codec, store in chain) and self.type.store is not None

    @property
    def is_schema_object(self) -> bool:
        """Stored at a schema-addressed path (``<object@>``, ``<npy@>`` and their subclasses)."""
        from djframe.codecs.object import SchemaCodec
        chain = self._codec_chain()
        return bool(chain) and isinstance(chain[0][0], SchemaCodec)

    def _codec_chain(self) -> list:
        if self.type.kind != "codec":
            return []
        from djframe.codecs import resolve_chain
        return resolve_chain(self.type.codec, self.type.store)[0]

    def todict(self) -> dict:
        """The attribute's fields as a dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def evolve(self, **changes) -> "Attribute":
        return replace(self, **changes)


default_attribute_properties = {  # keyword arguments of a plain attribute: Attribute(**{**these, name=..., type=...})
    f.name: f.default for f in fields(Attribute) if f.name not in ("name", "type")}


_NATIVE_NUMERIC = re.compile(r"^(tiny|small|medium|big)?int|^integer|^(big)?serial|^float|^double|^real|^numeric"
                             r"|^decimal|^bool")
_NATIVE_FLOAT = re.compile(r"^(float|double|real)")
_NATIVE_STRING = re.compile(r"^(char|varchar|character|enum|(tiny|medium|long)?text)")


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
    def _attributes(self) -> dict[str, Attribute]:
        """All attributes, hidden ones included (the reference's name, which tools read)."""
        return dict(self._by_name)

    @property
    def as_dtype(self) -> np.dtype:
        """The numpy structured dtype of rows of this heading (for ``np.array(rows, heading.as_dtype)``)."""
        return np.dtype([(a.name, a.dtype) for a in self.all_attributes if not a.hidden])

    @property
    def has_autoincrement(self) -> bool:
        return any(a.autoincrement for a in self.all_attributes)

    @property
    def hash_objects(self) -> list[str]:
        return [a.name for a in self.all_attributes if not a.hidden and a.is_hash_object]

    @property
    def schema_objects(self) -> list[str]:
        return [a.name for a in self.all_attributes if not a.hidden and a.is_schema_object]

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

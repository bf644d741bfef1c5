"""Core types: parse a declared type, know its Arrow type and its value range.

A declared type (``uint16``, ``varchar(30)``, ``<blob@store>``, ``tinyint unsigned``)
is parsed once into an immutable `CoreType`. Backends map a `CoreType` to their
own SQL column type; the fetch and insert paths map it to an Arrow type. This
module knows no SQL dialect.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa

from djframe.errors import DataJointError, DeclarationError

INTEGER_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}
FLOAT32_MAX = 3.4028234663852886e38

SIMPLE_TYPES = set(INTEGER_RANGES) | {"float32", "float64", "bool", "date", "json", "uuid", "bytes", "datetime"}

_PARAM_PATTERNS = {
    "char": re.compile(r"^char\s*\(\s*(\d+)\s*\)$", re.I),
    "varchar": re.compile(r"^varchar\s*\(\s*(\d+)\s*\)$", re.I),
    # `unsigned` (0.14 definitions; deprecated by MySQL for decimals) is accepted and not enforced
    "decimal": re.compile(r"^decimal\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)(?:\s+unsigned)?$", re.I),
    "datetime": re.compile(r"^datetime\s*\(\s*(\d)\s*\)$", re.I),
    "enum": re.compile(r"^enum\s*\((.*)\)$", re.I | re.S),
}
_CODEC = re.compile(r"^<\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:@\s*([A-Za-z0-9_-]*)\s*)?>$")
_NATIVE = re.compile(
    r"^(tinyint|smallint|mediumint|int|integer|bigint|serial|bigserial)(\s*\(\d+\))?(\s+unsigned)?(\s+auto_increment)?$"
    r"|^(float|double|real|double precision)(\s*\(\s*\d+\s*(,\s*\d+\s*)?\))?(\s+unsigned)?$"
    r"|^numeric(\s*\(\s*\d+\s*(,\s*\d+\s*)?\))?$"
    r"|^(time|timestamp)(\s*\(\s*\d\s*\))?$|^year$"
    r"|^(tinytext|text|mediumtext|longtext)$"
    r"|^(tinyblob|blob|mediumblob|longblob)$"
    r"|^(character varying|character)\s*\(\s*\d+\s*\)$",
    re.I,
)


@dataclass(frozen=True)
class CoreType:
    """A parsed declared type.

    ``kind`` is a core type name (``int32``, ``varchar``, ``enum`` ...), ``codec``
    for ``<name@store>`` types, or ``native`` for SQL passthrough types.
    """

    kind: str
    text: str
    args: tuple = ()
    codec: str | None = None
    store: str | None = None  # None: in-table; "": default store; else the store name

    @property
    def is_integer(self) -> bool:
        return self.kind in INTEGER_RANGES

    @property
    def is_unsigned(self) -> bool:
        return self.kind.startswith("uint")

    @property
    def is_string(self) -> bool:
        return self.kind in ("char", "varchar", "enum")

    @property
    def is_numeric(self) -> bool:
        return self.is_integer or self.kind in ("float32", "float64", "decimal", "bool")

    @property
    def storage(self) -> "CoreType":
        """The type values are stored as: for a codec, the core type ending its codec chain."""
        if self.kind != "codec":
            return self
        from djframe.codecs.registry import resolve_chain
        try:
            _, dtype = resolve_chain(self.codec, self.store)
        except DataJointError:  # an unknown codec: stored as bytes, or as json with a store
            dtype = "bytes" if self.store is None else "json"
        return parse_type(dtype, warn_native=False)

    @property
    def is_blob_like(self) -> bool:
        """Types that cannot be in a primary key or carry a non-null default."""
        return self.kind in ("bytes", "json", "codec")

    @property
    def length(self) -> int | None:
        return self.args[0] if self.kind in ("char", "varchar") else None

    @property
    def enum_values(self) -> tuple:
        return self.args if self.kind == "enum" else ()


def parse_enum_values(body: str) -> tuple[str, ...]:
    """Split ``'a', 'b'`` into values, honouring quotes (so a value may hold a comma)."""
    values, i = [], 0
    body = body.strip()
    while i < len(body):
        quote = body[i]
        if quote not in "'\"":
            raise DeclarationError(f"Enum values must be quoted: enum({body})")
        j, chars = i + 1, []
        while True:
            if j >= len(body):
                raise DeclarationError(f"Unterminated enum value in enum({body})")
            if body[j] == quote and body[j + 1 : j + 2] == quote:
                chars.append(quote)
                j += 2
            elif body[j] == quote:
                break
            else:
                chars.append(body[j])
                j += 1
        values.append("".join(chars))
        rest = body[j + 1 :].lstrip()
        if rest and not rest.startswith(","):
            raise DeclarationError(f"Expected ',' between enum values in enum({body})")
        body, i = rest[1:].lstrip() if rest else "", 0
    if not values:
        raise DeclarationError("An enum needs at least one value")
    return tuple(values)


def enum_text(values) -> str:
    return "enum(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def parse_type(text: str, *, warn_native: bool = True) -> CoreType:
    """Parse declared type text into a `CoreType`, or raise `DeclarationError`."""
    text = text.strip()
    lower = text.lower()
    if lower in SIMPLE_TYPES:
        return CoreType(lower, lower)
    if lower == "text":
        return CoreType("text", "text")
    if m := _CODEC.match(text):
        name, store = m.group(1), m.group(2)
        return CoreType("codec", text.replace(" ", ""), codec=name, store=store)
    for kind, pattern in _PARAM_PATTERNS.items():
        if m := pattern.match(text):
            return _parametrised(kind, m, text)
    if _NATIVE.match(text):
        if warn_native:
            warnings.warn(
                f"Native SQL type '{text}' is passed through unchanged and may not be portable "
                "across backends; prefer a core type (int32, float64, varchar(n), ...)."
            )
        return CoreType("native", lower)
    raise DeclarationError(
        f"Unsupported attribute type '{text}'. Use a core type such as int32, uint16, float64, "
        "varchar(n), date, datetime, json, uuid, bytes, enum(...), decimal(p,s) or a codec <blob>."
    )


def _parametrised(kind: str, m: re.Match, text: str) -> CoreType:
    if kind in ("char", "varchar"):
        n = int(m.group(1))
        if n < 1:
            raise DeclarationError(f"{kind} length must be positive in '{text}'")
        return CoreType(kind, f"{kind}({n})", (n,))
    if kind == "decimal":
        p, s = int(m.group(1)), int(m.group(2) or 0)
        if not (1 <= p <= 38 and 0 <= s <= p):
            raise DeclarationError(f"decimal precision must be 1..38 and scale 0..precision in '{text}'")
        return CoreType("decimal", f"decimal({p},{s})", (p, s))
    if kind == "datetime":
        n = int(m.group(1))
        if n > 6:
            raise DeclarationError(f"datetime precision must be 0..6 in '{text}'")
        return CoreType("datetime", f"datetime({n})", (n,))
    values = parse_enum_values(m.group(1))
    return CoreType("enum", enum_text(values), values)


def arrow_type(t: CoreType) -> pa.DataType:
    """The Arrow type a column of this type has in a fetched frame."""
    if t.is_integer:
        return getattr(pa, t.kind)()
    simple = {
        "float32": pa.float32(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us"),
        "json": pa.large_string(),
        "uuid": pa.string(),
        "bytes": pa.large_binary(),
        "text": pa.large_string(),
        "char": pa.large_string(),
        "varchar": pa.large_string(),
        "enum": pa.large_string(),
    }
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "decimal":
        return pa.decimal128(*t.args)
    if t.kind == "codec":
        return arrow_type(t.storage)
    return native_arrow_type(t.text)


def native_arrow_type(sql: str) -> pa.DataType:
    """Best-effort Arrow type for a native passthrough SQL type."""
    sql = sql.lower()
    unsigned = "unsigned" in sql
    for prefix, bits in (("tinyint", 8), ("smallint", 16), ("mediumint", 32), ("bigint", 64),
                         ("bigserial", 64), ("serial", 32), ("integer", 32), ("int", 32)):
        if sql.startswith(prefix):
            return getattr(pa, f"{'u' if unsigned else ''}int{bits}")()
    if sql.startswith(("float", "real")):
        return pa.float32() if sql.startswith("float") and "(" not in sql else pa.float64()
    if sql.startswith("double"):
        return pa.float64()
    if sql.startswith("numeric"):
        m = re.search(r"\((\d+)\s*(?:,\s*(\d+))?\)", sql)
        return pa.decimal128(int(m.group(1)), int(m.group(2) or 0)) if m else pa.large_string()
    if sql.startswith("timestamp"):
        return pa.timestamp("us")
    if "blob" in sql:
        return pa.large_binary()
    if sql == "year":
        return pa.int16()
    return pa.large_string()


def decimal_limit(t: CoreType) -> Decimal:
    p, s = t.args
    return Decimal(10) ** (p - s)

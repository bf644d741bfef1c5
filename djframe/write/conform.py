"""Rows in any form -> one Arrow table validated against the heading.

This is the front half of the write path. Dicts, tuples, numpy records,
pandas, Polars and Arrow all become Arrow columns of the attribute's type; a
value of the wrong type, out of range, too long, or missing raises a
`DataJointError` naming the table, the attribute, the row and the value before
anything reaches the database. The checks are the strictest any backend
applies (PostgreSQL's, mostly), so every backend accepts and stores the same
values: a value one server would refuse is refused everywhere.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import warnings
import uuid
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from djframe.backends.base import TRANSIENT_POOL, single_array
from djframe.errors import InvalidValueError, MissingAttributeError, UnknownAttributeError
from djframe.define.types import FLOAT32_MAX, INTEGER_RANGES, decimal_limit

_UNIT_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_LATEST = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)


# ----- any input -> Arrow ----------------------------------------------------------------------
def rows_to_arrow(rows, heading, table_name: str, *, ignore_extra_fields=False) -> pa.Table:
    """Turn the accepted insert inputs into an Arrow table (no type checks yet)."""
    table = _as_arrow(rows, heading, table_name)
    extra = [c for c in table.column_names if c not in heading.names and not _hidden_ok(c, heading)]
    if extra and not ignore_extra_fields:
        raise UnknownAttributeError(
            f"Cannot insert into {table_name}: attribute(s) {extra} not in the table heading "
            f"({', '.join(heading.names)}). Remove them, or pass ignore_extra_fields=True.")
    return table.select([c for c in table.column_names if c not in extra])


def _hidden_ok(name, heading) -> bool:
    return name.startswith("_") and heading.get(name) is not None


def _as_arrow(rows, heading, table_name) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows
    if isinstance(rows, pa.RecordBatch):
        return pa.Table.from_batches([rows])
    kind = type(rows).__module__.split(".")[0]
    if kind == "polars":
        return rows.to_arrow() if hasattr(rows, "to_arrow") else rows.collect().to_arrow()
    if kind == "pandas":
        frame = rows.reset_index() if _named_index(rows) else rows.reset_index(drop=True)
        return pa.Table.from_pandas(frame, preserve_index=False)
    if isinstance(rows, np.ndarray) and rows.dtype.names:
        return _from_columns({n: rows[n].tolist() for n in rows.dtype.names}, heading)
    if isinstance(rows, (str, bytes, Mapping)):
        raise InvalidValueError(f"Cannot insert into {table_name}: insert() takes a collection of rows, got a "
                                f"{type(rows).__name__}. Use insert1() for one row, or wrap it in a list.")
    rows = list(rows)
    if not rows:
        return pa.table({})
    first = rows[0]
    if isinstance(first, Mapping):
        return _from_mappings(rows, heading, table_name)
    if isinstance(first, np.void):
        names = first.dtype.names
        return _from_columns({n: [r[n].item() if hasattr(r[n], "item") else r[n] for r in rows] for n in names},
                             heading)
    names = heading.names
    warnings.warn("Positional inserts (rows as tuples or lists in heading order) are deprecated, as in DataJoint "
                  "2.x: insert dicts (or frames) keyed by attribute name.", DeprecationWarning, stacklevel=5)
    for i, r in enumerate(rows):
        if not isinstance(r, (tuple, list)) or len(r) != len(names):
            raise InvalidValueError(
                f"Incorrect number of attributes: cannot insert into {table_name}: row {i} is {r!r}, but a "
                f"positional row must have {len(names)} values in heading order ({', '.join(names)}). Give every "
                "value, or use a dict to omit attributes that have defaults.")
    return _from_columns({n: [r[i] for r in rows] for i, n in enumerate(names)}, heading)


def _from_mappings(rows, heading, table_name) -> "_PyTable":
    names = list(rows[0].keys())
    expected = set(names)
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping) or (list(r.keys()) != names and set(r.keys()) != expected):
            found = sorted(r) if isinstance(r, Mapping) else type(r).__name__
            raise InvalidValueError(
                f"Cannot insert into {table_name}: row {i} has fields {found} but the first row has "
                f"{sorted(names)}. Give every row the same fields (use None for a missing value).")
    return _from_columns({n: [r[n] for r in rows] for n in names}, heading)


def _named_index(frame) -> bool:
    return any(name is not None for name in frame.index.names)


_PYTHON_KINDS = ("codec", "json", "uuid", "decimal")


def _from_columns(columns: dict, heading) -> "_PyTable":
    """Python value lists -> Arrow; kept as Python objects where inference would change them
    (codec values, JSON documents, UUIDs, decimals) or where Arrow cannot infer a type."""
    arrays = {}
    for name, values in columns.items():
        attr = heading.get(name)
        if attr is not None and attr.type.kind in _PYTHON_KINDS:
            arrays[name] = _ObjectColumn(values)
            continue
        try:
            arrays[name] = _typed_array(values, attr) or pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeError):
            arrays[name] = _ObjectColumn(values)
    return _PyTable(arrays)


def _typed_array(values: list, attr):
    """A few plain ints or strings straight into the attribute's Arrow type (inference, and the cast
    after it, cost more than the row itself in insert1). None when not that case, or when a value does
    not fit: inference then takes over and the converter reports the value."""
    if attr is None or len(values) > SMALL:
        return None
    kind = attr.type.kind
    if kind in INTEGER_RANGES and all(type(v) is int for v in values):
        target = _INTEGER_TYPES[kind]
    elif kind in ("char", "varchar", "enum", "text") and all(type(v) is str for v in values):
        target = pa.large_string()
    else:
        return None
    try:
        return pa.array(values, target)
    except (pa.ArrowInvalid, OverflowError, UnicodeError):
        return None


class _ObjectColumn(list):
    """A column Arrow could not infer (mixed or Python-only values), validated value by value."""


class _PyTable:
    """A minimal table of Arrow arrays or object columns, before conversion to the heading types."""

    def __init__(self, columns: dict):
        self.columns = columns
        self.column_names = list(columns)
        self.num_rows = len(next(iter(columns.values()))) if columns else 0

    def column(self, name):
        return self.columns[name]

    def select(self, names):
        return _PyTable({n: self.columns[n] for n in names})

    def slice(self, start: int, length: int):
        return _PyTable({n: c.slice(start, length) if isinstance(c, (pa.Array, pa.ChunkedArray))
                         else type(c)(c[start: start + length]) for n, c in self.columns.items()})

    def filter(self, mask):
        """The rows where ``mask`` (an Arrow boolean array) is true."""
        keep = mask.to_pylist()
        return _PyTable({n: c.filter(mask) if isinstance(c, (pa.Array, pa.ChunkedArray))
                         else [v for v, k in zip(c, keep) if k] for n, c in self.columns.items()})


# ----- a few plain rows, bound as they are -----------------------------------------------------
_PLAIN_TEXT = ("char", "varchar", "enum", "text")


def plain_rows(rows, heading, backend) -> tuple[list, list] | None:
    """(names, value tuples) for a few dict rows whose values are all plain ints, floats and strings
    that already satisfy their attributes' rules (the same bounds and string rules as below), so
    they can be bound as they are (insert1 in a make). None for anything else: the full conversion
    then takes the rows, and reports what is wrong with them."""
    if not isinstance(rows, (list, tuple)) or not 0 < len(rows) <= SMALL or not isinstance(rows[0], dict):
        return None
    names = list(rows[0])
    if any(type(r) is not dict or list(r) != names for r in rows):
        return None
    attrs = [heading.get(n) for n in names]
    given = set(names)
    if any(a is None or a.hidden for a in attrs) or any(
            (a.required or a.in_key) and not a.hidden and a.name not in given for a in heading.all_attributes):
        return None
    columns = list(zip(*(tuple(r.values()) for r in rows)))
    if not all(_plain_ok(values, attr, backend) for values, attr in zip(columns, attrs)):
        return None
    return names, [tuple(r.values()) for r in rows]


def _plain_ok(values, attr, backend) -> bool:
    kind = attr.type.kind
    if kind in INTEGER_RANGES and kind != "uint64":
        lo, hi = INTEGER_RANGES[kind]
        return all(type(v) is int and lo <= v <= hi for v in values)
    if kind in ("float32", "float64"):
        limit = FLOAT32_MAX if kind == "float32" else math.inf
        return all(type(v) is float and math.isfinite(v) and abs(v) <= limit for v in values)
    if kind in _PLAIN_TEXT:
        return all(type(v) is str and (v.isascii() or _encodable(v)) for v in values) and \
            all(ok(v) for ok, *_ in _string_rules(attr) for v in values)
    return False


# ----- conversion to the heading's types ------------------------------------------------------
def conform(table, heading, table_name: str, backend, *, complete=True, deferred=()) -> pa.Table:
    """Convert every column to its attribute's Arrow type, checking types, ranges and NULLs.

    ``complete``: the rows are new, so every required attribute must be present.
    A None becomes NULL for a nullable attribute and the declared default for an
    attribute that has one; anywhere else it is a MissingAttributeError.
    ``deferred``: columns left out of the result, converted later slice by slice (`conform_columns`).
    """
    names = table.column_names
    missing = [a.name for a in heading.all_attributes if a.required and not a.hidden and a.name not in names]
    if missing and table.num_rows and complete:
        raise MissingAttributeError(
            f"Cannot insert into {table_name}: required attribute(s) {missing} not given. "
            "Provide a value for each, or declare a default in the table definition.")
    names = [name for name in names if name not in deferred]
    return pa.Table.from_arrays(conform_columns(table, names, heading, table_name, backend), names=names)


def conform_columns(table, names, heading, table_name: str, backend, first_row: int = 0) -> list[pa.Array]:
    """The columns `names` of `table` converted; `first_row`: where `table` starts in the insert
    (a slice's errors name the row of the whole insert)."""
    clock = _Clock(backend)
    arrays = []
    for name in names:
        attr = heading[name]
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = single_array(column)
        array = convert_column(column, attr, table_name, backend, rows=table, heading=heading)
        arrays.append(fill_defaults(array, attr, table_name, backend, clock, first_row))
    return arrays


def add_defaults(data: pa.Table, attributes, table_name: str, backend) -> pa.Table:
    """Append omitted attributes, each filled with its default."""
    clock = _Clock(backend)
    for attr in attributes:
        empty = pa.nulls(data.num_rows, attr.arrow_type)
        data = data.append_column(pa.field(attr.name, empty.type), fill_defaults(empty, attr, table_name,
                                                                                  backend, clock))
    return data


class _Clock:
    """The server's clock, read at most once per insert (for CURRENT_TIMESTAMP defaults)."""

    def __init__(self, backend):
        self.backend, self._now = backend, None

    def now(self) -> dt.datetime:
        if self._now is None:
            self._now = self.backend.server_time()
        return self._now


def fill_defaults(array: pa.Array, attr, table_name: str, backend, clock=None, first_row: int = 0) -> pa.Array:
    """NULLs -> the declared default; NULL stays only where the attribute is nullable."""
    if not array.null_count or attr.nullable:
        return array
    if not attr.has_default or attr.default is None and not attr.default_is_expression:
        row = first_row + pc.index(array.is_null(), True).as_py()
        raise MissingAttributeError(
            f"Cannot store NULL in {table_name}.{attr.name} (row {row}): the attribute is not nullable "
            "and has no default. Give a value, or declare it with `= null`.")
    value = (clock or _Clock(backend)).now() if attr.default_is_expression else default_value(attr)
    filler = convert_column(_ObjectColumn([value]), attr, table_name, backend)
    return pc.if_else(pc.is_null(array), filler[0], array)


def default_value(attr):
    """The Python value of a literal default as declared (text in the catalog)."""
    text, kind = attr.default, attr.type.kind
    if attr.type.is_integer:
        return int(text)
    if kind in ("float32", "float64"):
        return float(text)
    if kind == "bool":
        return text.lower() in ("1", "true")
    if kind == "decimal":
        return decimal.Decimal(text)
    return text


def convert_column(column, attr, table_name, backend, *, rows=None, heading=None) -> pa.Array:
    """One column -> the attribute's Arrow type (values checked).

    ``rows`` and ``heading``: the whole insert, so codecs can build object paths from row keys.
    """
    kind = attr.type.kind
    where = f"{table_name}.{attr.name}"
    if kind == "codec":
        from djframe.write.encode import encode_column
        return encode_column(column, attr, where, rows=rows, heading=heading, backend=backend)
    converter = _CONVERTERS.get(kind)
    if converter is None:  # native passthrough types
        return _native(column, attr, where)
    return converter(column, attr, where, backend)


_NATIVE_BINARY = re.compile(r"^(tiny|medium|long)?blob$|^(var)?binary\b|^bytea$")


def _native(column, attr, where) -> pa.Array:
    """A native SQL type passes through; a native binary type takes bytes only (anything else would
    be stored as its text)."""
    if _NATIVE_BINARY.match(attr.type.text.strip().lower()):
        values = _pylist(column)
        ok = lambda v: isinstance(v, (bytes, bytearray, memoryview, np.bytes_))  # noqa: E731
        if not all(v is None or ok(v) for v in values):
            raise _bad(where, _first_bad(values, ok), f"bytes: `{attr.type.text}` is a native binary type",
                       "Give bytes, or declare the attribute as <blob> to store arrays and other objects.")
        return pa.array([None if v is None else bytes(v) for v in values], pa.large_binary())
    return column if isinstance(column, pa.Array) else pa.array(list(column))


def _pylist(column) -> list:
    return column.to_pylist() if isinstance(column, pa.Array) else list(column)


def _bad(where, found, expected, hint) -> InvalidValueError:
    """`found`: (row, value) of the first offending value."""
    row, value = found
    text = repr(value) if not isinstance(value, str) or len(value) < 80 else repr(value[:77] + "...")
    return InvalidValueError(f"Invalid value {text} for {where} (row {row}): expected {expected}. {hint}")


def _first_bad(values, ok):
    """(row, value) of the first non-null value that fails `ok`."""
    return next((i, v) for i, v in enumerate(values) if v is not None and not ok(v))


def _at(array: pa.Array, mask: pa.Array):
    """(row, value) of the first row where `mask` is true."""
    row = pc.index(mask, True).as_py()
    return row, array[row].as_py()


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _whole(v) -> bool:
    """A value that stands for one integer exactly, as the reference stores it: an int, a bool
    (0/1), or a float or Decimal with no fraction."""
    if isinstance(v, (int, np.integer, bool, np.bool_)):
        return True
    if isinstance(v, (float, np.floating)):
        return math.isfinite(v) and float(v).is_integer()
    return isinstance(v, decimal.Decimal) and v.is_finite() and v == v.to_integral_value()


def _integers(column, attr, where, backend):
    lo, hi = INTEGER_RANGES[attr.type.kind]
    expected = f"an integer in {lo}..{hi} ({attr.type.kind})"
    target = _INTEGER_TYPES[attr.type.kind]
    if isinstance(column, pa.Array) and pa.types.is_boolean(column.type):
        column = column.cast(pa.int8())
    if isinstance(column, pa.Array) and (pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
        array = column
    elif isinstance(column, pa.Array) and pa.types.is_floating(column.type) and len(column) > SMALL:
        fraction = pc.invert(pc.and_(pc.is_finite(column), pc.equal(pc.floor(column), column)))
        if pc.any(fraction).as_py():
            raise _bad(where, _at(column, pc.fill_null(fraction, False)), expected,
                       "Give whole numbers (no fractions, NaN or inf): storing the value would round it.")
        array = _exact_ints(column, where, expected, lo, hi)
    else:
        values = _pylist(column)
        if not all(v is None or _whole(v) for v in values):
            hint = ("Give whole numbers (no fractions, NaN or inf): storing the value would round it."
                    if any(isinstance(v, (float, np.floating, decimal.Decimal)) for v in values)
                    else "Convert the value to int first.")
            raise _bad(where, _first_bad(values, _whole), expected, hint)
        try:
            array = pa.array([None if v is None else int(v) for v in values],
                             pa.uint64() if attr.type.kind == "uint64" else pa.int64())
        except (OverflowError, pa.ArrowInvalid):
            raise _bad(where, _first_bad(values, lambda v: lo <= int(v) <= hi), expected,
                       "Choose a wider integer type if such values are valid.") from None
    if len(array) - array.null_count:
        low, high = _min_max(array)  # Python bounds: comparing uint64 with int64 scalars overflows in Arrow
        if low < lo or high > hi:
            out = pc.equal(array, pa.scalar(low if low < lo else high, array.type))
            raise _bad(where, _at(array, out), expected, "Choose a wider integer type if such values are valid.")
    return array if array.type == target else array.cast(target)


def _exact_ints(column: pa.Array, where, expected, lo, hi) -> pa.Array:
    """Whole floats as int64 (uint64 past 2**63); out-of-range values are reported by the caller."""
    low, high = _min_max(column)
    if low < -2.0 ** 63 or high >= 2.0 ** 64:
        big = pc.or_(pc.less(column, -2.0 ** 63), pc.greater_equal(column, 2.0 ** 64))
        raise _bad(where, _at(column, big), expected, "Choose a wider integer type if such values are valid.")
    return column.cast(pa.uint64() if low >= 0 and high >= 2.0 ** 63 else pa.int64())


_INTEGER_TYPES = {kind: pa.from_numpy_dtype(np.dtype(kind)) for kind in INTEGER_RANGES}
SMALL = 16  # rows; below this Python beats an Arrow kernel call (insert1, populate)


def _min_max(array: pa.Array) -> tuple:
    """(min, max) of the non-null values as Python numbers."""
    if len(array) <= SMALL:
        values = [v for v in array.to_pylist() if v is not None]
        return min(values), max(values)
    mm = pc.min_max(array)
    return mm["min"].as_py(), mm["max"].as_py()


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.number, decimal.Decimal)) and not isinstance(v, (bool, np.bool_))


def _floats(column, attr, where, backend):
    target = pa.float32() if attr.type.kind == "float32" else pa.float64()
    if isinstance(column, pa.Array) and (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)
                                         or pa.types.is_null(column.type) or pa.types.is_decimal(column.type)):
        array = column if column.type == pa.float64() else column.cast(pa.float64())
    else:
        values = _pylist(column)
        if not all(v is None or _is_number(v) for v in values):
            raise _bad(where, _first_bad(values, _is_number), "a number", "Convert the value to float first.")
        array = pa.array([None if v is None else float(v) for v in values], pa.float64())
    if len(array) - array.null_count:
        _check_special_floats(array, attr, where, backend)
    return array if array.type == target else array.cast(target, safe=False)


def _check_special_floats(array, attr, where, backend):
    """NaN and infinity where the backend cannot store them; float32 overflow. The common case
    (all finite and in range) costs two kernel calls, or none for a few rows."""
    finite, (low, high) = _all_finite(array), _min_max(array)
    in_range = attr.type.kind != "float32" or (-FLOAT32_MAX <= low and high <= FLOAT32_MAX)
    if finite and in_range:
        return
    nan, inf = pc.is_nan(array), pc.is_inf(array)
    if pc.any(nan).as_py() and not backend.supports_nan:
        raise _bad(where, _at(array, nan), "a number",
                   f"The {backend.name} backend cannot store NaN; use None (NULL) for a missing value.")
    if pc.any(inf).as_py() and not backend.supports_inf:
        raise _bad(where, _at(array, inf), "a finite number",
                   f"The {backend.name} backend cannot store infinity; use None or a finite value.")
    if attr.type.kind == "float32":
        big = pc.and_(pc.greater(pc.abs(array), FLOAT32_MAX), pc.invert(inf))
        if pc.any(big).as_py():
            raise _bad(where, _at(array, big), "a value within the float32 range (±3.4e38)",
                       "Declare the attribute as float64 for larger values.")


def _all_finite(array: pa.Array) -> bool:
    if len(array) <= SMALL:
        return all(math.isfinite(v) for v in array.to_pylist() if v is not None)
    return pc.all(pc.is_finite(array)).as_py() is not False


def _bools(column, attr, where, backend):
    if isinstance(column, pa.Array) and pa.types.is_boolean(column.type):
        return column
    values = _pylist(column)
    ok = lambda v: isinstance(v, (bool, np.bool_)) or (_is_int(v) and v in (0, 1))  # noqa: E731
    if not all(v is None or ok(v) for v in values):
        raise _bad(where, _first_bad(values, ok), "a bool (True/False or 1/0)", "Give True or False.")
    return pa.array([None if v is None else bool(v) for v in values], pa.bool_())


def _strings(column, attr, where, backend):
    if isinstance(column, pa.Array) and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                                         or pa.types.is_null(column.type)):
        array = column if column.type == pa.large_string() else column.cast(pa.large_string())
    else:
        values = [_as_text(v) for v in _pylist(column)]
        if not all(v is None or isinstance(v, str) for v in values):
            raise _bad(where, _first_bad(values, lambda v: isinstance(v, str)), "a string",
                       "Convert the value with str() first if text is meant.")
        try:
            array = pa.array(values, pa.large_string())
        except (UnicodeError, pa.ArrowInvalid):
            raise _bad(where, _first_bad(values, _encodable), "text encodable as UTF-8",
                       "Remove unpaired surrogate characters.") from None
    if len(array) - array.null_count:
        _check_rules(array, _string_rules(attr), where)
    return array


def _as_text(v):
    """A number given for a string attribute is stored as its text, as the reference stores it
    (``7`` -> ``'7'``, ``7.5`` -> ``'7.5'``); other values are left for the check to refuse."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, decimal.Decimal, np.number)):
        return v
    if isinstance(v, (float, np.floating)) and not math.isfinite(v):
        return v  # NaN or infinity is no text anyone meant
    return str(v.item() if isinstance(v, np.generic) else v)


def _encodable(v) -> bool:
    try:
        v.encode("utf-8")
        return True
    except UnicodeError:
        return False


def _string_rules(attr) -> list:
    """The rules of a string type: (ok(value), Arrow mask of bad values, expected(value), hint)."""
    rules = [(lambda v: "\x00" not in v, lambda a: pc.match_substring(a, "\x00", memory_pool=TRANSIENT_POOL),
              lambda v: "text without NUL characters",
              "Remove the \\x00 characters (PostgreSQL cannot store them), or use the bytes type.")]
    limit = attr.type.length
    if limit is not None:
        rules.append((lambda v: len(v) <= limit, lambda a: _longer_than(a, limit),
                      lambda v: f"a string of at most {limit} characters (got {len(v)})",
                      f"Shorten the value, or declare a longer {attr.type.kind}."))
    if attr.type.kind == "enum":
        allowed = attr.type.enum_values
        rules.append((lambda v: v in allowed,
                      lambda a: pc.invert(pc.is_in(a, pa.array(allowed, pa.large_string()))),
                      lambda v: f"one of {list(allowed)}",
                      "Use one of the declared values, or add the value to the enum with alter()."))
    return rules


def _longer_than(array: pa.Array, limit: int) -> pa.Array:
    """Mask of values over `limit` characters; no UTF-8 decoding when no value has more bytes than that
    (a character is at least one byte)."""
    if (pc.max(pc.binary_length(array, memory_pool=TRANSIENT_POOL)).as_py() or 0) <= limit:
        return pa.nulls(len(array), pa.bool_()).fill_null(False)
    return pc.greater(pc.utf8_length(array), limit)


def _check_rules(array: pa.Array, rules: list, where: str):
    """Raise for the first value that breaks a rule: per value in Python for a few rows (insert1),
    with one Arrow kernel per rule for many."""
    if len(array) <= SMALL:
        values = array.to_pylist()
        for ok, _, expected, hint in rules:
            found = next(((i, v) for i, v in enumerate(values) if v is not None and not ok(v)), None)
            if found:
                raise _bad(where, found, expected(found[1]), hint)
        return
    for _, mask, expected, hint in rules:
        bad = mask(array)
        if pc.any(bad).as_py():
            found = _at(array, bad)
            raise _bad(where, found, expected(found[1]), hint)


def _dates(column, attr, where, backend):
    if isinstance(column, pa.Array) and (pa.types.is_date(column.type) or pa.types.is_timestamp(column.type)):
        return column.cast(pa.date32())
    out = []
    for i, v in enumerate(_pylist(column)):
        if v is None or isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            out.append(v)
        elif isinstance(v, dt.datetime):
            out.append(v.date())
        elif isinstance(v, np.datetime64):
            out.append(v.astype("datetime64[D]").item())
        elif isinstance(v, str):
            try:
                out.append(dt.date.fromisoformat(v.strip()))
            except ValueError:
                raise _bad(where, (i, v), "a valid date", "Write dates as 'YYYY-MM-DD'.") from None
        else:
            raise _bad(where, (i, v), "a date", "Give a datetime.date or a 'YYYY-MM-DD' string.")
    return pa.array(out, pa.date32())


def _datetimes(column, attr, where, backend):
    if isinstance(column, pa.Array) and pa.types.is_timestamp(column.type):
        if column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit, "UTC")).cast(pa.timestamp(column.type.unit))
        array = column
    elif isinstance(column, pa.Array) and pa.types.is_date(column.type):
        array = column.cast(pa.timestamp("us"))
    else:
        array = pa.array([_to_datetime(i, v, where) for i, v in enumerate(_pylist(column))], pa.timestamp("us"))
    array = round_timestamps(array, precision_of(attr))
    late = pc.fill_null(pc.greater(array, pa.scalar(_LATEST, pa.timestamp("us"))), False)
    if pc.any(late).as_py():
        raise _bad(where, (pc.index(late, True).as_py(), "a time after 9999-12-31"),
                   "a datetime before the year 10000", "Give an earlier datetime.")
    return array


def _to_datetime(i, v, where):
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v.tzinfo else v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, np.datetime64):
        return v.astype("datetime64[us]").item()
    if isinstance(v, str):
        try:
            return _to_datetime(i, dt.datetime.fromisoformat(v.strip()), where)
        except ValueError:
            raise _bad(where, (i, v), "a valid datetime", "Write datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]'.") \
                from None
    raise _bad(where, (i, v), "a datetime", "Give a datetime.datetime or a 'YYYY-MM-DD HH:MM:SS' string.")


def precision_of(attr) -> int:
    """Fractional-second digits of a datetime attribute (datetime = whole seconds)."""
    return attr.type.args[0] if attr.type.args else 0


def round_timestamps(array: pa.Array, precision: int) -> pa.Array:
    """Round to `precision` fractional digits, halves up, as MySQL does; result in microseconds.

    Done client-side so the three backends store identical values.
    """
    digits = _UNIT_DIGITS[array.type.unit]
    if digits > precision and len(array) - array.null_count:
        step = 10 ** (digits - precision)
        ticks = array.cast(pa.int64()).fill_null(0).to_numpy()
        rounded = np.floor_divide(ticks + step // 2, step) * step
        array = pa.array(rounded, pa.int64(), mask=array.is_null().to_numpy(zero_copy_only=False)) \
            .cast(pa.timestamp(array.type.unit))
    return array.cast(pa.timestamp("us"))


def _decimals(column, attr, where, backend):
    precision, scale = attr.type.args
    limit = decimal_limit(attr.type)
    expected = f"a decimal({precision},{scale}) with absolute value below {limit}"
    converted = _decimal_column(column, precision, scale, limit)
    if converted is not None:
        return converted
    out = []
    for i, v in enumerate(_pylist(column)):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, str, decimal.Decimal, np.number)):
            raise _bad(where, (i, v), expected, "Give a number, a decimal.Decimal or numeric text.")
        try:
            d = decimal.Decimal(str(v)) if not isinstance(v, decimal.Decimal) else v
            q = d.quantize(decimal.Decimal(1).scaleb(-scale), context=decimal.Context(prec=80))  # > 28 digits
        except (decimal.InvalidOperation, ValueError):
            raise _bad(where, (i, v), expected, "Give a number, or declare a wider decimal.") from None
        if not q.is_finite() or abs(q) >= limit:
            raise _bad(where, (i, v), expected, "Declare a wider decimal if such values are valid.")
        out.append(q)
    return pa.array(out, pa.decimal128(precision, scale))


def _decimal_column(column, precision: int, scale: int, limit) -> pa.Array | None:
    """Decimal and integer Arrow columns as whole columns: rounded half to even (as `Decimal.quantize`
    rounds), range-checked and cast by Arrow kernels. None when the column needs the per-value path:
    other input types, or a value out of range (that path names it)."""
    if not isinstance(column, pa.Array) or precision > 38:
        return None
    target = pa.decimal128(precision, scale)
    if pa.types.is_integer(column.type):
        try:
            magnitude = pc.abs_checked(column)
        except pa.ArrowInvalid:  # the most negative int64
            return None
        if limit < 2 ** 63 and pc.any(pc.greater_equal(magnitude, pa.scalar(int(limit), pa.int64()))).as_py():
            return None
        return column.cast(pa.decimal128(38, 0)).cast(target)
    if not pa.types.is_decimal128(column.type):
        return None
    try:
        rounded = column if column.type.scale <= scale else pc.round(column, scale, round_mode="half_to_even")
    except pa.ArrowInvalid:  # rounding up needs a digit the input type has not
        return None
    digits = precision - scale  # the target's integer digits; rounding adds at most one to the input's
    if column.type.precision - column.type.scale >= digits:
        bound_type = pa.decimal128(digits + 1 + rounded.type.scale, rounded.type.scale)
        if bound_type.precision > 38:
            return None
        bound = pa.scalar(decimal.Decimal(int(limit)), bound_type)
        magnitude = pc.abs(rounded, memory_pool=TRANSIENT_POOL)
        if pc.any(pc.greater_equal(magnitude, bound, memory_pool=TRANSIENT_POOL)).as_py():
            return None
    return rounded.cast(target)


def _uuids(column, attr, where, backend):
    out = []
    for i, v in enumerate(_pylist(column)):
        if v is None:
            out.append(None)
            continue
        try:
            if isinstance(v, uuid.UUID):
                out.append(str(v))
            elif isinstance(v, (bytes, bytearray)) and len(v) == 16:
                out.append(str(uuid.UUID(bytes=bytes(v))))
            else:
                out.append(str(uuid.UUID(str(v))))
        except (ValueError, TypeError, AttributeError):
            raise _bad(where, (i, v), "a UUID", "Give a uuid.UUID or its 36-character text.") from None
    return pa.array(out, pa.string())


def _jsons(column, attr, where, backend):
    out = []
    for i, v in enumerate(_pylist(column)):
        if v is None:
            out.append(None)
            continue
        try:
            text = json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise _bad(where, (i, v), "a JSON-serialisable value (dict, list, str, finite number, bool, None)",
                       f"Convert it first ({e}).") from None
        if "\\u0000" in text:
            raise _bad(where, (i, v), "JSON without NUL characters",
                       "Remove the \\x00 characters (PostgreSQL cannot store them in JSON).")
        out.append(text)
    return pa.array(out, pa.large_string())


def _bytes(column, attr, where, backend):
    if isinstance(column, pa.Array) and (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)
                                         or pa.types.is_null(column.type)):
        return column.cast(pa.large_binary())
    values = _pylist(column)
    ok = lambda v: isinstance(v, (bytes, bytearray, memoryview, np.bytes_))  # noqa: E731
    if not all(v is None or ok(v) for v in values):
        declared = attr.original_type or "bytes"
        raise _bad(where, _first_bad(values, ok), f"bytes (`{declared}` is a native binary type: raw bytes only)",
                   "Encode text with .encode() first, or declare the attribute as <blob> for arrays and objects.")
    return pa.array([None if v is None else bytes(v) for v in values], pa.large_binary())


_CONVERTERS = {**{k: _integers for k in INTEGER_RANGES},
               "float32": _floats, "float64": _floats, "bool": _bools,
               "char": _strings, "varchar": _strings, "enum": _strings, "text": _strings,
               "date": _dates, "datetime": _datetimes, "decimal": _decimals,
               "uuid": _uuids, "json": _jsons, "bytes": _bytes}


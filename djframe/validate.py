"""Rows in any form -> one Arrow table validated against the heading.

This is the front half of the write path. Dicts, tuples, numpy records,
pandas, Polars and Arrow all become Arrow columns of the attribute's type; a
value of the wrong type, out of range, too long, or missing raises a
`DataJointError` naming the table, the attribute and the value before anything
reaches the database.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import DataJointError, InvalidValueError, MissingAttributeError, UnknownAttributeError
from .types import FLOAT32_MAX, INTEGER_RANGES, decimal_limit


# ----- any input -> Arrow ----------------------------------------------------------------------
def rows_to_arrow(rows, heading, table_name: str, *, ignore_extra_fields=False) -> pa.Table:
    """Turn the accepted insert inputs into an Arrow table (no type checks yet)."""
    table = _as_arrow(rows, heading, table_name)
    extra = [c for c in table.column_names if c not in heading.names and not _hidden_ok(c, heading)]
    if extra and not ignore_extra_fields:
        raise UnknownAttributeError(
            f"Cannot insert into {table_name}: attribute(s) {extra} not in the table heading "
            f"({', '.join(heading.names)}). Remove them or pass ignore_extra_fields=True.")
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
    rows = list(rows)
    if not rows:
        return pa.table({})
    first = rows[0]
    if isinstance(first, Mapping):
        names = list(first.keys())
        for i, r in enumerate(rows):
            if not isinstance(r, Mapping) or list(r.keys()) != names and set(r.keys()) != set(names):
                raise DataJointError(f"Cannot insert into {table_name}: row {i} has fields "
                                     f"{sorted(r) if isinstance(r, Mapping) else type(r).__name__} "
                                     f"but the first row has {sorted(names)}. All rows must have the same fields.")
        return _from_columns({n: [r[n] for r in rows] for n in names}, heading)
    if isinstance(first, np.void):
        names = first.dtype.names
        return _from_columns({n: [r[n].item() if hasattr(r[n], "item") else r[n] for r in rows] for n in names}, heading)
    names = heading.names
    for i, r in enumerate(rows):
        if not isinstance(r, (tuple, list)) or len(r) != len(names):
            raise DataJointError(f"Cannot insert into {table_name}: row {i} is {r!r}; a positional row must "
                                 f"have {len(names)} values in heading order ({', '.join(names)}).")
    return _from_columns({n: [r[i] for r in rows] for i, n in enumerate(names)}, heading)


def _named_index(frame) -> bool:
    return any(name is not None for name in frame.index.names)


_PYTHON_KINDS = ("codec", "json", "uuid", "decimal")


def _from_columns(columns: dict, heading) -> pa.Table:
    """Python value lists -> Arrow; kept as Python objects where inference would change them
    (codec values, JSON documents, UUIDs, decimals) or where Arrow cannot infer a type."""
    arrays = {}
    for name, values in columns.items():
        attr = heading.get(name)
        if attr is not None and attr.type.kind in _PYTHON_KINDS:
            arrays[name] = _ObjectColumn(values)
            continue
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays[name] = _ObjectColumn(values)
    return _PyTable(arrays)


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


# ----- conversion to the heading's types ------------------------------------------------------
def conform(table, heading, table_name: str, backend, *, complete=True) -> pa.Table:
    """Convert every column to its attribute's Arrow type, checking types, ranges and NULLs.

    ``complete``: the rows are new, so every required attribute must be present.
    """
    names = table.column_names
    missing = [a.name for a in heading.all_attributes if a.required and not a.hidden and a.name not in names]
    if missing and table.num_rows and complete:
        raise MissingAttributeError(
            f"Cannot insert into {table_name}: required attribute(s) {missing} not given. "
            "Provide a value for each, or declare a default in the table definition.")
    arrays, fields = [], []
    for name in names:
        attr = heading[name]
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        array = convert_column(column, attr, table_name, backend)
        _check_nulls(array, attr, table_name)
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _check_nulls(array, attr, table_name):
    if array.null_count and not attr.nullable and not attr.has_default and attr.type.kind != "codec":
        row = array.is_null().to_pylist().index(True)
        raise MissingAttributeError(
            f"Cannot insert NULL into {table_name}.{attr.name} (row {row}): the attribute is not nullable. "
            "Give a value, or declare it with `= null`.")


def convert_column(column, attr, table_name, backend) -> pa.Array:
    """One column -> the attribute's Arrow type (values checked)."""
    kind = attr.type.kind
    where = f"{table_name}.{attr.name}"
    if kind == "codec":
        from .codecs import encode_column
        return encode_column(_pylist(column), attr, where)
    converter = _CONVERTERS.get(kind)
    if converter is None:  # native passthrough types
        return column if isinstance(column, pa.Array) else pa.array(list(column))
    return converter(column, attr, where, backend)


def _pylist(column) -> list:
    return column.to_pylist() if isinstance(column, pa.Array) else list(column)


def _bad(where, value, expected, hint="") -> InvalidValueError:
    return InvalidValueError(f"Invalid value {value!r} for {where}: expected {expected}.{(' ' + hint) if hint else ''}")


def _first_bad(values, ok):
    return next(v for v in values if v is not None and not ok(v))


def _integers(column, attr, where, backend):
    lo, hi = INTEGER_RANGES[attr.type.kind]
    target = pa.from_numpy_dtype(np.dtype(attr.type.kind))
    if isinstance(column, pa.Array) and (pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
        array = column
    elif isinstance(column, pa.Array) and pa.types.is_floating(column.type):
        values = column.to_pylist()
        if any(v is not None and (math.isnan(v) or not float(v).is_integer()) for v in values):
            raise _bad(where, _first_bad(values, lambda v: not math.isnan(v) and float(v).is_integer()),
                       f"an integer in {lo}..{hi}")
        array = pa.array([None if v is None else int(v) for v in values])
    else:
        values = _pylist(column)
        if any(v is not None and (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)))
               for v in values):
            raise _bad(where, _first_bad(values, lambda v: isinstance(v, (int, np.integer))
                                         and not isinstance(v, (bool, np.bool_))), f"an integer in {lo}..{hi}")
        try:
            array = pa.array([None if v is None else int(v) for v in values],
                             pa.uint64() if attr.type.kind == "uint64" else pa.int64())
        except (OverflowError, pa.ArrowInvalid):
            raise _bad(where, _first_bad(values, lambda v: lo <= int(v) <= hi), f"an integer in {lo}..{hi}") from None
    if len(array) - array.null_count:
        mm = pc.min_max(array)
        low, high = mm["min"].as_py(), mm["max"].as_py()
        if low < lo or high > hi:
            value = low if low < lo else high
            raise _bad(where, value, f"an integer in {lo}..{hi} ({attr.type.kind})",
                       "Choose a wider integer type if such values are valid.")
    return array.cast(target)


def _floats(column, attr, where, backend):
    target = pa.float32() if attr.type.kind == "float32" else pa.float64()
    if isinstance(column, pa.Array) and (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)
                                         or pa.types.is_null(column.type) or pa.types.is_decimal(column.type)):
        array = column.cast(pa.float64())
    else:
        values = _pylist(column)
        if any(v is not None and (isinstance(v, (bool, str)) or not isinstance(v, (int, float, np.number,
                                                                                   decimal.Decimal))) for v in values):
            raise _bad(where, _first_bad(values, lambda v: isinstance(v, (int, float, np.number, decimal.Decimal))
                                         and not isinstance(v, bool)), "a number")
        array = pa.array([None if v is None else float(v) for v in values], pa.float64())
    valid = array.drop_null()
    if len(valid):
        nan = pc.is_nan(valid)
        if pc.any(nan).as_py() and not backend.supports_nan:
            raise _bad(where, float("nan"), "a number",
                       f"The {backend.name} backend cannot store NaN; use None (NULL) for missing values.")
        inf = pc.is_inf(valid)
        if pc.any(inf).as_py() and not backend.supports_inf:
            raise _bad(where, float("inf"), "a finite number", f"The {backend.name} backend cannot store infinity.")
        if attr.type.kind == "float32":
            finite = pc.filter(valid, pc.invert(pc.or_(nan, inf)))
            if len(finite) and pc.max(pc.abs(finite)).as_py() > FLOAT32_MAX:
                raise _bad(where, pc.max(pc.abs(finite)).as_py(), "a value within the float32 range (±3.4e38)",
                           "Use float64 for larger values.")
    return array.cast(target, safe=False)


def _bools(column, attr, where, backend):
    if isinstance(column, pa.Array) and pa.types.is_boolean(column.type):
        return column
    values = _pylist(column)
    ok = lambda v: isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1))  # noqa: E731
    if any(v is not None and not ok(v) for v in values):
        raise _bad(where, _first_bad(values, ok), "a bool (True/False or 1/0)")
    return pa.array([None if v is None else bool(v) for v in values], pa.bool_())


def _strings(column, attr, where, backend):
    if isinstance(column, pa.Array) and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                                         or pa.types.is_null(column.type)):
        array = column.cast(pa.large_string())
    else:
        values = _pylist(column)
        if any(v is not None and not isinstance(v, str) for v in values):
            raise _bad(where, _first_bad(values, lambda v: isinstance(v, str)), "a string")
        array = pa.array(values, pa.large_string())
    if attr.type.kind in ("char", "varchar", "text") and len(array) - array.null_count:
        limit = attr.type.length
        if limit is not None:
            lengths = pc.utf8_length(array)
            if pc.max(lengths).as_py() > limit:
                value = array[pc.index(pc.greater(lengths, limit), True).as_py()].as_py()
                raise _bad(where, value if len(value) < 80 else value[:77] + "...",
                           f"a string of at most {limit} characters (got {len(value)})",
                           f"Declare a longer {attr.type.kind}.")
    if attr.type.kind == "enum" and len(array) - array.null_count:
        allowed = pa.array(attr.type.enum_values, pa.large_string())
        inside = pc.is_in(array, allowed)
        bad = pc.and_(pc.invert(inside), pc.is_valid(array))
        if pc.any(bad).as_py():
            value = array[pc.index(bad, True).as_py()].as_py()
            raise _bad(where, value, f"one of {list(attr.type.enum_values)}")
    return array


def _dates(column, attr, where, backend):
    if isinstance(column, pa.Array) and pa.types.is_date(column.type):
        return column.cast(pa.date32())
    if isinstance(column, pa.Array) and pa.types.is_timestamp(column.type) and attr.type.kind == "date":
        return column.cast(pa.date32())
    values = _pylist(column)
    out = []
    for v in values:
        if v is None or isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            out.append(v)
        elif isinstance(v, dt.datetime):
            out.append(v.date())
        elif isinstance(v, str):
            try:
                out.append(dt.date.fromisoformat(v.strip()))
            except ValueError:
                raise _bad(where, v, "a date (YYYY-MM-DD)") from None
        elif isinstance(v, np.datetime64):
            out.append(v.astype("datetime64[D]").item())
        else:
            raise _bad(where, v, "a date (datetime.date or 'YYYY-MM-DD')")
    return pa.array(out, pa.date32())


def _datetimes(column, attr, where, backend):
    if isinstance(column, pa.Array) and pa.types.is_timestamp(column.type):
        if column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit, "UTC")).cast(pa.timestamp(column.type.unit))
        return column.cast(pa.timestamp("us"))
    if isinstance(column, pa.Array) and pa.types.is_date(column.type):
        return column.cast(pa.timestamp("us"))
    out = []
    for v in _pylist(column):
        if v is None or isinstance(v, dt.datetime):
            out.append(v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v is not None and v.tzinfo else v)
        elif isinstance(v, dt.date):
            out.append(dt.datetime(v.year, v.month, v.day))
        elif isinstance(v, str):
            try:
                parsed = dt.datetime.fromisoformat(v.strip())
            except ValueError:
                raise _bad(where, v, "a datetime ('YYYY-MM-DD HH:MM:SS[.ffffff]')") from None
            out.append(parsed.astimezone(dt.timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed)
        elif isinstance(v, np.datetime64):
            out.append(v.astype("datetime64[us]").item())
        else:
            raise _bad(where, v, "a datetime")
    return pa.array(out, pa.timestamp("us"))


def _decimals(column, attr, where, backend):
    precision, scale = attr.type.args
    limit = decimal_limit(attr.type)
    out = []
    for v in _pylist(column):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, str, decimal.Decimal, np.number)):
            raise _bad(where, v, f"a decimal({precision},{scale})")
        try:
            d = decimal.Decimal(str(v)) if not isinstance(v, decimal.Decimal) else v
            q = d.quantize(decimal.Decimal(1).scaleb(-scale))
        except (decimal.InvalidOperation, ValueError):
            raise _bad(where, v, f"a decimal({precision},{scale})") from None
        if not q.is_finite() or abs(q) >= limit:
            raise _bad(where, v, f"a decimal({precision},{scale}) with absolute value below {limit}")
        out.append(q)
    return pa.array(out, pa.decimal128(precision, scale))


def _uuids(column, attr, where, backend):
    out = []
    for v in _pylist(column):
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
            raise _bad(where, v, "a UUID (uuid.UUID or its 36-character text)") from None
    return pa.array(out, pa.string())


def _jsons(column, attr, where, backend):
    out = []
    for v in _pylist(column):
        if v is None:
            out.append(None)
            continue
        try:
            out.append(json.dumps(v, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise _bad(where, v, "a JSON-serialisable value (dict, list, str, number, bool)", str(e)) from None
    return pa.array(out, pa.large_string())


def _bytes(column, attr, where, backend):
    if isinstance(column, pa.Array) and (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)
                                         or pa.types.is_null(column.type)):
        return column.cast(pa.large_binary())
    values = _pylist(column)
    ok = lambda v: isinstance(v, (bytes, bytearray, memoryview, np.bytes_))  # noqa: E731
    if any(v is not None and not ok(v) for v in values):
        raise _bad(where, _first_bad(values, ok), "bytes")
    return pa.array([None if v is None else bytes(v) for v in values], pa.large_binary())


_CONVERTERS = {**{k: _integers for k in INTEGER_RANGES},
               "float32": _floats, "float64": _floats, "bool": _bools,
               "char": _strings, "varchar": _strings, "enum": _strings, "text": _strings,
               "date": _dates, "datetime": _datetimes, "decimal": _decimals,
               "uuid": _uuids, "json": _jsons, "bytes": _bytes}

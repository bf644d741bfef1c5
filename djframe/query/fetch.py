"""SQL -> Arrow -> decoded frame in the requested format.

The backend returns Arrow; every column is then cast to the type its heading
declares, so a fetched frame has the right column types even when it is empty.
Python objects (dicts, UUIDs, decoded blobs) appear only at the edges.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pyarrow as pa

from ..errors import DataJointError
from .compile import Compiler


def fetch_table(expr, names=None, order_by=None, limit=None, offset=None) -> pa.Table:
    """Run the query and return an Arrow table typed by the heading (codecs still encoded)."""
    heading = expr.heading
    names = list(heading.names if names is None else names)
    for name in names:
        heading[name]  # unknown attribute -> clear error before any SQL runs
    backend = expr.connection.backend
    sql = Compiler(backend).sql(expr._node, names, order_by or (), limit, offset or 0)
    raw = backend.fetch_arrow(sql)
    return normalize(raw, heading, names, backend)


def stream_batches(expr, batch_rows=65536):
    """Yield typed Arrow record batches without materialising the whole result."""
    heading, backend = expr.heading, expr.connection.backend
    names = heading.names
    sql = Compiler(backend).sql(expr._node, names)
    for batch in backend.fetch_batches(sql, batch_rows):
        yield from normalize(pa.Table.from_batches([batch]), heading, names, backend).to_batches()


def normalize(raw: pa.Table, heading, names, backend) -> pa.Table:
    columns, fields = [], []
    for i, name in enumerate(names):
        attr = heading[name]
        column = raw.column(i)
        if attr.expression is None:
            column = backend.from_storage(column, attr)
        elif pa.types.is_null(column.type):
            column = column.cast(pa.large_string())
        columns.append(column)
        fields.append(pa.field(name, column.type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields)) if names else pa.table({})


# ----- decoding at the edges -------------------------------------------------------------------
def decode_value(value, attr, connection=None):
    if value is None:
        return None
    kind = attr.type.kind
    if kind == "uuid":
        return uuid.UUID(value)
    if kind == "json":
        return json.loads(value)
    if kind == "codec":
        from ..codecs import decode
        return decode(value, attr, connection)
    return value


def decode_column(values: list, attr, connection=None) -> list:
    kind = attr.type.kind
    if kind == "codec":
        from ..codecs import decode_many
        return decode_many(values, attr, connection)
    if kind in ("uuid", "json"):
        return [decode_value(v, attr) for v in values]
    return values


def to_dicts(table: pa.Table, heading, connection=None) -> list[dict]:
    names = table.column_names
    decoded = [decode_column(table.column(n).to_pylist(), heading[n], connection) for n in names]
    return [dict(zip(names, row)) for row in zip(*decoded)]


def to_polars(table: pa.Table, heading, connection=None):
    import polars as pl

    plain = [n for n in table.column_names if heading[n].type.kind != "codec"]
    frame = pl.from_arrow(table.select(plain)) if plain else pl.DataFrame()
    if not isinstance(frame, pl.DataFrame):
        frame = frame.to_frame()
    for name in table.column_names:
        attr = heading[name]
        if attr.type.kind == "codec":
            values = decode_column(table.column(name).to_pylist(), attr, connection)
            frame = frame.with_columns(_polars_object_series(name, values))
    return frame.select(table.column_names) if table.column_names else frame


def _polars_object_series(name, values):
    import polars as pl

    from ..codecs.blob import stack_if_uniform
    stacked = stack_if_uniform(values) if values else None
    if stacked is not None and stacked.ndim >= 2:
        return pl.Series(name, stacked)
    return pl.Series(name, values, dtype=pl.Object)


def to_pandas(table: pa.Table, heading, connection=None):
    import pandas as pd

    records = {n: decode_column(table.column(n).to_pylist(), heading[n], connection)
               if heading[n].type.kind in ("codec", "uuid", "json") else None for n in table.column_names}
    frame = table.to_pandas()
    for name, values in records.items():
        if values is not None:
            frame[name] = pd.Series(values, dtype=object, index=frame.index)
    key = [k for k in heading.primary_key if k in frame.columns]
    if key and len(frame):
        frame = frame.set_index(key)
    return frame


def to_arrays(table: pa.Table, heading, connection=None):
    """A numpy structured array (object dtype for strings, blobs and other Python values)."""
    names = table.column_names
    dtypes, columns = [], []
    for name in names:
        attr = heading[name]
        column = table.column(name)
        numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or \
            pa.types.is_boolean(column.type)
        if numeric and column.null_count == 0:
            values = column.to_numpy()
            dtypes.append((name, values.dtype))
        else:
            values = np.empty(len(column), dtype=object)
            values[:] = decode_column(column.to_pylist(), attr, connection)
            dtypes.append((name, object))
        columns.append(values)
    out = np.empty(table.num_rows, dtype=dtypes)
    for name, values in zip(names, columns):
        out[name] = values
    return out


def require_one(table: pa.Table, what: str):
    if table.num_rows != 1:
        if table.num_rows == 0:
            raise DataJointError(f"fetch1 requires exactly one row, but {what} is empty.")
        raise DataJointError(f"fetch1 should only return one row, but {what} has {table.num_rows} rows; "
                             "restrict it further or use to_dicts().")

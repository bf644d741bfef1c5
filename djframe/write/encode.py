"""The encode step of the write path: a codec-typed column through its chain, then converted
to the core type the chain ends in (``bytes``, ``json`` or another core type)."""

from __future__ import annotations

import json

import pyarrow as pa

from djframe.backends.base import single_array
from djframe.codecs.pipeline import ColumnContext, binary_array, current_session
from djframe.codecs.registry import resolve_chain
from djframe.define.heading import Attribute
from djframe.define.types import parse_type
from djframe.errors import DataJointError, InvalidValueError
from djframe.storage.stores import resolve_store_name
from djframe.write.conform import convert_column

def encode_column(column, attr, where: str, *, rows=None, heading=None, backend=None) -> pa.Array:
    """Encode one column (list or Arrow array) of an attribute of a codec type."""
    chain, dtype = resolve_chain(attr.type.codec, attr.type.store)
    values = _python_values(column)
    outer = chain[0][0]
    for v in values:
        if v is not None:
            try:
                outer.validate(v)
            except (TypeError, ValueError) as e:
                raise InvalidValueError(f"Invalid value for {where} (<{outer.name}>): {e}") from None
    ctx = _encode_context(attr, rows, heading, backend, where)
    for codec, store in chain:
        try:
            values = codec.encode_many(values, ctx.with_store(_resolve_store(store, codec, ctx)))
        except DataJointError as e:
            raise InvalidValueError(f"Cannot encode a value for {where} (<{codec.name}>): {e}") from None
        except (TypeError, ValueError) as e:
            raise InvalidValueError(f"Invalid value for {where} (<{codec.name}>): {e}") from None
    return _to_storage_array(values, dtype, attr, where, backend)


def _resolve_store(store, codec, ctx):
    """``@`` (empty) means the default store; write its real name (the reference cannot read "")."""
    if store is None:
        return None
    if store == "" and not ctx.dry_run:
        return resolve_store_name(None, use_filepath_default=codec.name == "filepath", config=ctx.config)
    return store or None


def _encode_context(attr, rows, heading, backend, where) -> ColumnContext:
    session = current_session()
    table = session.get("table")
    schema = getattr(table, "database", "") or ""
    table_name = getattr(table, "table_name", "") or ""

    def keys():
        return row_keys(rows, heading, backend, where)
    return ColumnContext(schema=schema, table=table_name, field=attr.name, keys=keys,
                         log=session.get("log"), dry_run=session.get("dry_run", False),
                         config=table.connection.config if table is not None else None)


def row_keys(rows, heading, backend, where) -> list:
    """The converted primary-key values of each inserted row (PK order)."""
    if rows is None or heading is None:
        return []
    names = [k for k in heading.primary_key if k in rows.column_names]
    table_name = where.rsplit(".", 1)[0]
    columns = []
    for k in names:
        column = rows.column(k)
        if isinstance(column, pa.ChunkedArray):
            column = single_array(column)
        columns.append(convert_column(column, heading[k], table_name, backend).to_pylist())
    return [dict(zip(names, values)) for values in zip(*columns)] if names else [{}] * rows.num_rows


def _python_values(column) -> list:
    """Codec input values; Arrow list columns of numbers become numpy arrays, not lists."""
    if isinstance(column, pa.ChunkedArray):
        column = single_array(column)
    if not isinstance(column, pa.Array):
        return list(column)
    t = column.type
    if (pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t)) and \
            (pa.types.is_integer(t.value_type) or pa.types.is_floating(t.value_type)):
        return _arrow_lists_to_numpy(column)
    return column.to_pylist()


def _arrow_lists_to_numpy(column) -> list:
    import numpy as np
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_list(column.type) and column.null_count == 0 and column.values.null_count == 0:
        flat = column.flatten().to_numpy()
        return list(flat.reshape(len(column), column.type.list_size))
    return [np.asarray(column[i].values.to_numpy(zero_copy_only=False)) if ok else None
            for i, ok in enumerate(valid)]


def _to_storage_array(values, dtype, attr, where, backend) -> pa.Array:
    if dtype == "json":
        return pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v)
                         for v in values], pa.large_string())
    if dtype == "bytes":
        return binary_array(values)
    inner = Attribute(name=attr.name, type=parse_type(dtype, warn_native=False), nullable=True)
    return convert_column(values, inner, where.rsplit(".", 1)[0], backend)



"""SQL -> Arrow -> decoded frame in the requested format.

The backend returns Arrow; every column is then cast to the type its heading
declares, so a fetched frame has the right column types even when it is empty.
Python objects (dicts, UUIDs, decoded blobs) appear only at the edges.
"""

from __future__ import annotations

import json
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from djframe.backends.base import shortest_float32, unify_chunks
from djframe.codecs.blob import honours_squeeze
from djframe.errors import DataJointError
from djframe.query import conditions as c
from djframe.query import nodes as n
from djframe.query.compile import Compiler, order_spec


def fetch_table(expr, names=None, order_by=None, limit=None, offset=None) -> pa.Table:
    """Run the query and return an Arrow table typed by the heading (codecs still encoded)."""
    heading = expr.heading
    names = list(heading.names if names is None else names)
    for name in names:
        heading[name]  # unknown attribute -> clear error before any SQL runs
    return concat_parts(list(fetch_parts(expr, names, order_by, limit, offset)), heading)


def concat_parts(parts: list, heading) -> pa.Table:
    """One table from normalized parts. Only computed columns can differ in type between parts
    (NULL-only in one part, or SQLite values of another storage class): they are promoted, and
    what stays NULL-typed becomes text, as a single fetch gives."""
    if len(parts) == 1:
        table = parts[0]
    else:
        try:
            table = pa.concat_tables(parts, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table = pa.Table.from_arrays([unify_chunks([c for p in parts for c in p.column(i).chunks])
                                          for i in range(parts[0].num_columns)], names=parts[0].column_names)
    nulls = [i for i, f in enumerate(table.schema) if pa.types.is_null(f.type)]
    for i in nulls:
        table = table.set_column(i, table.schema.field(i).name, table.column(i).cast(pa.large_string()))
    return table


def fetch_parts(expr, names, order_by=None, limit=None, offset=None):
    """The result typed by the heading, part by part as the backend delivers it (each part is
    converted before the next arrives). A large plain query is fetched in parallel slices where the
    backend can."""
    heading, backend = expr.heading, expr.connection.backend
    if expr.connection.query_cache is not None:
        yield cached_table(expr, names, order_by, limit, offset)
        return
    slices = None if order_by or limit is not None or offset else Compiler(backend).split_sql(expr.node, names, backend.table_slices)
    if slices:
        raw_parts = backend.fetch_split_parts(slices)
    else:
        raw_parts = backend.fetch_parts(Compiler(backend).sql(expr.node, names, order_spec(order_by), limit,
                                                              offset or 0))
    for raw in raw_parts:
        yield normalize(raw, heading, names, backend, keep_null_columns=True)


def cached_table(expr, names, order_by, limit, offset) -> pa.Table:
    """The result from the connection's query cache, fetched and saved the first time it is asked."""
    heading, backend, cache = expr.heading, expr.connection.backend, expr.connection.query_cache
    sql = Compiler(backend).sql(expr.node, names, order_spec(order_by), limit, offset or 0)
    table = cache.table(sql)
    if table is None:
        table = concat_parts([normalize(raw, heading, names, backend, keep_null_columns=True)
                              for raw in backend.fetch_parts(sql)], heading)
        cache.save_table(sql, table)
    return table


def stream_batches(expr, batch_rows=65536):
    """Yield typed Arrow record batches without materialising the whole result."""
    if expr.connection.query_cache is not None:
        yield from cached_table(expr, expr.heading.names, None, None, None).to_batches(batch_rows)
        return
    heading, backend = expr.heading, expr.connection.backend
    names = heading.names
    sql = Compiler(backend).sql(expr.node, names)
    for batch in backend.fetch_batches(sql, batch_rows):
        yield from normalize(pa.Table.from_batches([batch]), heading, names, backend).to_batches()


def normalize(raw: pa.Table, heading, names, backend, keep_null_columns=False) -> pa.Table:
    """Each column in its attribute's Arrow type; computed columns keep what the server gave
    (NULL-only ones become text unless `keep_null_columns`: a later part may tell their type)."""
    columns, fields = [], []
    for i, name in enumerate(names):
        attr = heading[name]
        column = raw.column(i)
        if attr.expression is None:
            column = backend.from_storage(column, attr)
        elif pa.types.is_null(column.type) and not keep_null_columns:
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
        from djframe.codecs import decode
        return decode(value, attr, connection)
    return value


def decode_column(values: list, attr, connection=None) -> list:
    kind = attr.type.kind
    if kind == "codec":
        from djframe.codecs import decode_many
        return decode_many(values, attr, connection)
    if kind in ("uuid", "json"):
        return [decode_value(v, attr) for v in values]
    return values


def decoded_values(column, attr, connection=None) -> list:
    """Python values of a fetched column; codecs read the Arrow buffers directly (no bytes copies)."""
    if attr.type.kind == "codec":
        return decode_column(column, attr, connection)
    if column.type == pa.float32():
        column = shortest_float32(column)
    return decode_column(column.to_pylist(), attr, connection)


def to_dicts(table: pa.Table, heading, connection=None) -> list[dict]:
    names = table.column_names
    decoded = [decoded_values(table.column(n), heading[n], connection) for n in names]
    return [dict(zip(names, row)) for row in zip(*decoded)]


def to_polars(table: pa.Table, heading, connection=None):
    import polars as pl

    plain = [n for n in table.column_names if heading[n].type.kind != "codec"]
    if len(plain) == table.num_columns and plain:
        return pl.from_arrow(table, rechunk=False)
    frame = pl.from_arrow(table.select(plain), rechunk=False) if plain else pl.DataFrame()
    if not isinstance(frame, pl.DataFrame):
        frame = frame.to_frame()
    for name in table.column_names:
        attr = heading[name]
        if attr.type.kind == "codec":
            values = decode_column(table.column(name), attr, connection)  # codecs decode Arrow zero-copy
            frame = frame.with_columns(_polars_object_series(name, values))
    return frame.select(table.column_names) if table.column_names else frame


def _polars_object_series(name, values):
    import polars as pl

    from djframe.codecs.blob import stack_if_uniform
    stacked = stack_if_uniform(values) if values else None
    if stacked is not None and stacked.ndim >= 2:
        return pl.Series(name, stacked)
    return pl.Series(name, values, dtype=pl.Object)


DECODE_BATCH_ROWS = 1024  # rows per batch when codec columns are fetched: big values, so few rows


def to_polars_streamed(expr, names, order_by=None, limit=None, offset=None):
    """A frame with codec columns, fetched and decoded overlapped: batch k is decoded (inflate
    releases the GIL) while batch k+1 arrives, instead of one after the other."""
    import polars as pl

    heading, connection = expr.heading, expr.connection
    if connection.query_cache is not None:
        return to_polars(fetch_table(expr, names, order_by, limit, offset), heading, connection)
    backend = connection.backend
    sql = Compiler(backend).sql(expr.node, names, order_spec(order_by), limit, offset or 0)
    codecs = [n for n in names if heading[n].type.kind == "codec"]

    def decode(batch: pa.RecordBatch):
        table = normalize(pa.Table.from_batches([batch]), heading, names, backend, keep_null_columns=True)
        return table.drop_columns(codecs), {n: decode_column(table.column(n), heading[n], connection) for n in codecs}

    with ThreadPoolExecutor(1) as pool:
        done = [f.result() for f in [pool.submit(decode, b) for b in backend.fetch_batches(sql, DECODE_BATCH_ROWS)]]
    if not done:
        return to_polars(fetch_table(expr, names, order_by, limit, offset), heading, connection)
    plain = concat_parts([table for table, _ in done], heading)
    frame = pl.from_arrow(plain, rechunk=False) if plain.num_columns else pl.DataFrame()
    for name in codecs:
        frame = frame.with_columns(_concat_decoded(name, [values[name] for _, values in done]))
    return frame.select(names)


def _concat_decoded(name, parts: list):
    """One Polars column from decoded batches: a fixed-size array column when every batch stacks
    into arrays of one shape and dtype (each batch one chunk, no copy), else Python objects."""
    import polars as pl

    from djframe.codecs.blob import stack_if_uniform
    stacked = [stack_if_uniform(values) for values in parts]
    first = stacked[0]
    if all(a is not None and a.ndim >= 2 and a.shape[1:] == first.shape[1:] and a.dtype == first.dtype
           for a in stacked):
        return pl.concat([pl.Series(name, a) for a in stacked], rechunk=False)
    return pl.Series(name, [v for values in parts for v in values], dtype=pl.Object)


def to_pandas(table: pa.Table, heading, connection=None):
    """A pandas frame indexed by the primary key, empty or not (so code never sees two shapes)."""
    import pandas as pd

    records = {n: decoded_values(table.column(n), heading[n], connection)
               if heading[n].type.kind in ("codec", "uuid", "json") else None for n in table.column_names}
    frame = table.to_pandas()
    for name, values in records.items():
        if values is not None:
            frame[name] = pd.Series(values, dtype=object, index=frame.index)
    key = [k for k in heading.primary_key if k in frame.columns]
    if key:
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
            values[:] = decoded_values(column, attr, connection)
            dtypes.append((name, object))
        columns.append(values)
    out = np.empty(table.num_rows, dtype=dtypes)
    for name, values in zip(names, columns):
        out[name] = values
    return out


def require_one(table: pa.Table, what: str):
    require_count(table.num_rows, what)


def require_count(rows: int, what: str):
    if rows != 1:
        if rows == 0:
            raise DataJointError(f"fetch1 requires exactly one row, but {what} is empty. Check the restriction, "
                                 "or use to_dicts() where no row is possible.")
        raise DataJointError(f"fetch1 should only return one row, but {what} has {rows} rows; "
                             "restrict it further or use to_dicts().")


# ----- small results: the driver's rows, converted by the heading in Python ------------------------
SMALL_LIMIT = 1000  # rows a LIMIT may ask for and still be read as rows: past this, Arrow columns pay


def small_rows(expr, names=None, order_by=None, limit=None, offset=None) -> list[dict] | None:
    """The rows of a result known to be small (fetch1, a key lookup), straight from the driver on
    the open session and converted by the heading in Python: for one row, building Arrow columns
    costs far more than the row. The values are those the frames path gives (same types, decoded
    codecs). None where it does not apply: the query cache is on, the backend has no row path, or
    a column is computed or of a native type (their types come from the server)."""
    connection = expr.connection
    backend = connection.backend
    fetch_values = getattr(backend, "fetch_values", None)
    if connection.query_cache is not None or fetch_values is None:
        return None
    heading = expr.heading
    names = heading.names if names is None else names
    attributes = [heading[name] for name in names]
    for a in attributes:
        if a.expression is not None or a.type.kind == "native":
            return None
    if not names:
        return None
    node, order, offset = expr.node, order_spec(order_by), offset or 0

    def compile_node(compiler, sub):
        return compiler.sql(sub, names, order, limit, offset)

    bound = bound_statement(node, backend.dialect, ("select", tuple(names), order, limit, offset), compile_node)
    sql, params = bound if bound is not None else (compile_node(Compiler(backend), node), None)
    rows = fetch_values(sql, params, attributes)
    columns = decoded_columns(rows, attributes, connection)
    return [dict(zip(names, row)) for row in (zip(*columns) if columns is not None else rows)]


def is_small(expr, limit) -> bool:
    """A result known to be small: an explicit small LIMIT, or a restriction by the full primary key."""
    if limit is not None:
        return limit <= SMALL_LIMIT
    lookup = key_lookup(expr.node)
    key = expr.node.child.heading.primary_key if lookup is not None else ()
    return bool(key) and set(key) <= set(lookup[0])


def decoded_columns(rows: list, attributes, connection) -> list | None:
    """The columns of `rows` with uuid, json and codec values decoded as `decode_column` does for
    the frames path; None when no column needs decoding (the rows are the result)."""
    if not rows or not any(a.type.kind in ("uuid", "json", "codec") for a in attributes):
        return None
    return [decode_column(list(values), attribute, connection)
            for values, attribute in zip(zip(*rows), attributes)]


# ----- key lookups: one statement per (table, key names), values bound -------------------------
# A restriction of a base table by equalities (``T & key``) compiles to the same text for every key
# but its literals. The text is compiled once, with a sentinel value in place of each literal, and
# kept; a lookup then only puts its values in (bound parameters where the dialect binds that kind,
# escaped literals otherwise). Templates hang off the heading object the catalog cache hands out:
# `Connection.forget()` (and the schema-change paths that call it) replace that object, so a table
# changed by DDL never meets a template of its old heading.
_TEMPLATES: dict[int, tuple] = {}  # id(heading) -> (weakref to the heading, {shape: Template or None})
_SENTINEL_INT = -7_390_246_118_502_331_000  # + i: no real key is that, and its text is unique
_STRING_KINDS = frozenset({"char", "varchar", "text"})


class Template:
    """A compiled statement cut at its key literals: pieces[0] v0 pieces[1] v1 ... pieces[-1]."""

    __slots__ = ("pieces", "attributes", "dialect")

    def __init__(self, pieces, attributes, dialect):
        self.pieces, self.attributes, self.dialect = pieces, attributes, dialect

    def bind(self, values) -> tuple[str, list | None]:
        """(statement, parameters) for these values: the dialect's bound kinds as parameters."""
        d, pieces = self.dialect, self.pieces
        out, params = [pieces[0]], []
        for attribute, value, piece in zip(self.attributes, values, pieces[1:]):
            if attribute.type.kind in d.bound_key_kinds:
                out.append(d.param_marker(len(params)))
                params.append(value)
            else:
                out.append(d.typed_literal(value, attribute))
            out.append(piece)
        return "".join(out), params or None


def key_lookup(node) -> tuple | None:
    """(attribute names, values) of a base table restricted by equalities with plain int or str
    values (what a key dict gives), else None."""
    if type(node) is not n.RestrictNode or type(node.child) is not n.TableNode:
        return None
    condition = node.condition
    items = condition.items if type(condition) is c.AllOf else (condition,)
    names, values = [], []
    for item in items:
        if type(item) is not c.Equals or type(item.value) not in (int, str):
            return None
        names.append(item.attribute)
        values.append(item.value)
    return tuple(names), values


def bound_statement(node, dialect, purpose: tuple, compile_node) -> tuple[str, list | None] | None:
    """(statement, parameters) of a key lookup from its cached template; None when `node` is not a
    key lookup or its statement cannot be templated. `compile_node(compiler, node)` compiles it;
    `purpose` names what it compiles (part of the cache key)."""
    lookup = key_lookup(node)
    if lookup is None:
        return None
    names, values = lookup
    heading = node.child.heading  # the catalog's object: a new one after DDL
    entry = _TEMPLATES.get(id(heading))
    if entry is None or entry[0]() is not heading:
        entry = _TEMPLATES[id(heading)] = (weakref.ref(heading, _forget_heading(id(heading))), {})
    shape = (id(dialect), node.child.schema, node.child.table, names, purpose)  # a template holds its dialect
    templates = entry[1]
    if shape not in templates:
        templates[shape] = _template(node, names, dialect, compile_node)
    template = templates[shape]
    return None if template is None else template.bind(values)


def _forget_heading(key: int):
    def forget(_):
        entry = _TEMPLATES.get(key)
        if entry is not None and entry[0]() is None:
            del _TEMPLATES[key]
    return forget


def _template(node, names, dialect, compile_node) -> Template | None:
    """The node compiled with a sentinel in place of each value, cut at the sentinels' literals;
    None when a key's kind has no sentinel or a sentinel's text is not found exactly once."""
    heading = node.child.heading
    attributes = tuple(heading[name] for name in names)
    sentinels = []
    for i, attribute in enumerate(attributes):
        kind = attribute.type.kind
        if attribute.type.is_integer:
            sentinels.append(_SENTINEL_INT + i)
        elif kind in _STRING_KINDS:
            sentinels.append(f"djf\x01key{i}\x02")
        else:
            return None
    equalities = tuple(c.Equals(name, value) for name, value in zip(names, sentinels))
    condition = equalities[0] if len(equalities) == 1 else c.AllOf(equalities)
    sql = compile_node(Compiler(dialect), n.RestrictNode(node.heading, node.child, condition))
    pieces = []
    for attribute, sentinel in zip(attributes, sentinels):
        literal = dialect.typed_literal(sentinel, attribute)
        if sql.count(literal) != 1:
            return None
        head, sql = sql.split(literal)
        pieces.append(head)
    return Template(tuple(pieces) + (sql,), attributes, dialect)


class FetchMethods:
    """The fetch API of query expressions: to_polars, to_arrow, to_pandas, to_dicts, to_arrays, keys, fetch1."""

    def _arrow(self, names=None, order_by=None, limit=None, offset=None):
        return fetch_table(self, names, order_by, limit, offset)

    def to_arrow(self, *, order_by=None, limit=None, offset=None, squeeze=False):
        """A pyarrow Table typed by the heading (codec columns still encoded)."""
        return self._arrow(None, order_by, limit, offset)

    def to_polars(self, *, order_by=None, limit=None, offset=None, squeeze=False):
        heading = self.heading
        attributes = heading.attributes.values()
        if any(a.type.kind == "codec" for a in attributes):
            return to_polars_streamed(self, heading.names, order_by, limit, offset)
        if any(a.expression is not None for a in attributes):  # parts may differ in type: Arrow joins them
            return to_polars(self._arrow(None, order_by, limit, offset), heading, self.connection)
        import polars as pl  # each part becomes Polars as it arrives, so its Arrow form is freed early
        frames = [to_polars(part, heading, self.connection)
                  for part in fetch_parts(self, heading.names, order_by, limit, offset)]
        return frames[0] if len(frames) == 1 else pl.concat(frames, rechunk=False)

    def to_parquet(self, path, *, decode=False, compression="zstd", order_by="KEY", **writer_kwargs) -> str:
        """Write the result to a Parquet file: the stored form, or with ``decode=True`` what
        `to_polars` gives (uniform arrays as fixed-size list columns). See `djframe.publish.export`."""
        from djframe.query.frames import write_parquet
        return write_parquet(self, path, decode=decode, compression=compression, order_by=order_by, **writer_kwargs)

    def to_pandas(self, *, order_by=None, limit=None, offset=None, squeeze=False):
        return to_pandas(self._arrow(None, order_by, limit, offset), self.heading, self.connection)

    @honours_squeeze
    def to_dicts(self, *, order_by=None, limit=None, offset=None, squeeze=False):
        rows = small_rows(self, None, order_by, limit, offset) if is_small(self, limit) else None
        if rows is not None:
            return rows
        return to_dicts(self._arrow(None, order_by, limit, offset), self.heading, self.connection)

    @honours_squeeze
    def to_arrays(self, *attrs, include_key=False, order_by=None, limit=None, offset=None, squeeze=False):
        """No attrs: a structured array; attrs: one array each (prefixed by the keys with include_key)."""
        if not attrs:
            return to_arrays(self._arrow(None, order_by, limit, offset), self.heading, self.connection)
        names = list(dict.fromkeys(list(self.primary_key) * include_key + list(attrs)))
        table = self._arrow(names, order_by, limit, offset)
        arrays = to_arrays(table, self.heading, self.connection)
        out = tuple(arrays[a] for a in attrs)
        if include_key:
            return (to_dicts(table.select(self.primary_key), self.heading, self.connection), *out)
        return out[0] if len(out) == 1 else out

    def keys(self, *, order_by=None, limit=None, offset=None):
        """The primary-key values as a list of dicts."""
        rows = small_rows(self, self.primary_key, order_by, limit, offset) if is_small(self, limit) else None
        if rows is not None:
            return rows
        return to_dicts(self._arrow(self.primary_key, order_by, limit, offset), self.heading, self.connection)

    def iter_batches(self, batch_rows=65536, format="arrow"):
        """Stream the result as Arrow record batches (or Polars frames) with flat memory."""
        import polars as pl
        for batch in stream_batches(self, batch_rows):
            yield pl.from_arrow(batch) if format == "polars" else batch

    @honours_squeeze
    def fetch(self, *attrs, offset=None, limit=None, order_by=None, format=None, as_dict=None, squeeze=False,
              download_path="."):
        """Legacy fetch; prefer to_polars / to_dicts / to_arrays."""
        window = dict(order_by=order_by, limit=limit, offset=offset)
        frames = {"polars": self.to_polars, "arrow": self.to_arrow, "pandas": self.to_pandas,
                  "frame": self.to_pandas}
        if format not in (None, "array", "dict", *frames):
            raise DataJointError(f"Unknown fetch format {format!r}: use polars, arrow, pandas, array or dict.")
        names = list(dict.fromkeys(x for a in attrs for x in (self.primary_key if a == "KEY" else [a])))
        if format in frames:  # a frame of the asked columns (all without attrs)
            if not attrs:
                return frames[format](**window)
            for name in names:
                self.heading[name]  # an unknown name is a clear error
            chosen = self.proj(*[n for n in names if n not in self.primary_key])
            if format == "polars":
                return chosen.to_polars(**window).select(names)
            if format == "arrow":
                return chosen.to_arrow(**window).select(names)
            return chosen.to_pandas(**window).reset_index()[names]
        if attrs == ("KEY",):
            return self.keys(**window)
        if attrs:  # one query, so that the arrays line up row by row
            table = self._arrow(names, order_by, limit, offset)
            if as_dict:
                return to_dicts(table, self.heading, self.connection)
            arrays = to_arrays(table, self.heading, self.connection)
            keys = to_dicts(table.select(self.primary_key), self.heading, self.connection) if "KEY" in attrs else None
            results = [keys if a == "KEY" else arrays[a] for a in attrs]
            return results[0] if len(results) == 1 else tuple(results)
        if as_dict or format == "dict":
            return self.to_dicts(**window)
        return self.to_arrays(**window)

    @honours_squeeze
    def fetch1(self, *attrs, squeeze=False):
        """Exactly one row: a dict (no attrs), one value, or a tuple of values; "KEY" gives the key dict."""
        names = None
        if attrs:
            names = list(dict.fromkeys(x for a in attrs for x in (self.primary_key if a == "KEY" else [a])))
        rows = small_rows(self, names, limit=2)
        if rows is None:
            table = self._arrow(names, limit=2)
            require_one(table, self._describe_self())
            rows = to_dicts(table, self.heading, self.connection)
        if len(rows) != 1:
            require_count(len(rows), self._describe_self())
        row = rows[0]
        if not attrs:
            return row
        values = tuple({k: row[k] for k in self.primary_key} if a == "KEY" else row[a] for a in attrs)
        return values[0] if len(values) == 1 else values

    def head(self, limit=25, **kwargs):
        """The first rows in primary-key order, as dicts."""
        return self.to_dicts(order_by="KEY", limit=limit)

    def tail(self, limit=25, **kwargs):
        """The last rows in primary-key order, as dicts (still in ascending order)."""
        return self.to_dicts(order_by="KEY DESC", limit=limit)[::-1]

    def _describe_self(self) -> str:
        return getattr(self, "full_table_name", None) or "the query"

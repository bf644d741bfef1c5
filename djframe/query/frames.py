"""The end of the read path for files: a query's Arrow batches written to Parquet.

``QueryExpression.to_parquet`` / ``dj.write_parquet`` write one query's result;
``dj.export`` writes each table's file with the same writer. The file holds the
rows in their *stored* form typed by the heading (or, with ``decode=True``, what
``to_polars`` gives), field metadata ``datajoint.type`` / ``datajoint.key`` naming
the declared type, rows in key order so the same data gives the same file.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from djframe.errors import DataJointError

FORMAT = "djframe-export"  # the file format's name and version, in the files' metadata and export manifests
FORMAT_VERSION = 1
BATCH_ROWS = 65536


def write_parquet(expr, path, *, decode=False, compression="zstd", order_by="KEY", **kwargs) -> str:
    """Write one query's result to a Parquet file (``QueryExpression.to_parquet``).

    ``decode=False``: the stored form, typed as in an export (blobs as bytes, store codecs
    as JSON text). ``decode=True``: what ``to_polars()`` gives, so uniform ``<blob>`` arrays
    become fixed-size list columns; values Parquet cannot hold (ragged blobs, object refs)
    raise. Further keyword arguments go to ``pyarrow.parquet.ParquetWriter``.
    """
    from djframe.query.universal import as_expression
    expr = as_expression(expr, "write_parquet source")
    fs, full = filesystem(path)
    if decode:
        write_decoded(expr, fs, full, compression, order_by, kwargs)
    else:
        write_rows([expr], fs, full, compression, order_by, metadata={}, writer_args=kwargs)
    return str(path)


def filesystem(location):
    """(fsspec filesystem, path within it) of a local path or URL."""
    import fsspec
    fs, path = fsspec.core.url_to_fs(str(location))
    return fs, path.rstrip("/") if len(path) > 1 else path


def make_parent(fs, full: str):
    parent = full.rsplit("/", 1)[0] if "/" in full else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)


def write_rows(exprs: list, fs, full, compression, order_by, metadata, on_batch=None, writer_args=None) -> int:
    """Stream the stored rows of queries on one table (typed by its heading) into one Parquet
    file, each query's rows in key order; `on_batch(table)` sees every batch written."""
    from djframe.query.compile import Compiler, order_spec
    from djframe.query.fetch import normalize
    heading, backend = exprs[0].heading, exprs[0].connection.backend
    names = heading.names
    order = order_spec(order_by) if order_by and (order_by != "KEY" or heading.primary_key) else ()
    sqls = [Compiler(backend).sql(expr.node, names, order) for expr in exprs]
    schema, writer, count = None, None, 0
    make_parent(fs, full)
    with fs.open(full, "wb") as out:
        try:
            for raw in (batch for sql in sqls for batch in backend.fetch_batches(sql, BATCH_ROWS)):
                table = normalize(pa.Table.from_batches([raw]), heading, names, backend)
                if schema is None:
                    schema = annotated_schema(table.schema, heading, metadata)
                    writer = pq.ParquetWriter(out, schema, compression=compression, **(writer_args or {}))
                table = table.cast(schema)
                writer.write_table(table)
                count += table.num_rows
                if on_batch is not None:
                    on_batch(table)
            if writer is None:  # no rows: the file still carries the columns and their types
                schema = annotated_schema(heading.arrow_schema(names), heading, metadata)
                writer = pq.ParquetWriter(out, schema, compression=compression, **(writer_args or {}))
        finally:
            if writer is not None:
                writer.close()
    return count


def annotated_schema(schema: pa.Schema, heading, metadata: dict) -> pa.Schema:
    """Field metadata ``datajoint.type`` / ``datajoint.key``; attributes that cannot be NULL as required columns."""
    fields = []
    for f in schema:
        attr = heading[f.name]
        fields.append(pa.field(f.name, f.type, nullable=attr.nullable,
                               metadata={"datajoint.type": attr.type.text,
                                         "datajoint.key": "true" if attr.in_key else "false"}))
    return pa.schema(fields, metadata=metadata or None)


def write_decoded(expr, fs, full, compression, order_by, writer_args):
    """The decoded result (``to_polars``) as one Parquet file; Python-object columns are refused."""
    import polars as pl
    frame = expr.to_polars(order_by=order_by if order_by != "KEY" or expr.primary_key else None)
    bad = [n for n, t in frame.schema.items() if t == pl.Object]
    if bad:
        raise DataJointError(f"Cannot write decoded column(s) {bad} to Parquet: they hold Python objects (ragged "
                             "or non-array blobs, object references). Write the stored form with decode=False, "
                             "or project the column(s) away.")
    table = frame.to_arrow()
    schema = annotated_schema(table.schema, expr.heading, {"datajoint.format": f"{FORMAT}/{FORMAT_VERSION}"})
    make_parent(fs, full)
    with fs.open(full, "wb") as out:
        pq.write_table(table.cast(schema), out, compression=compression, **writer_args)

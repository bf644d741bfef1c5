"""Arrow columns as the text LOAD DATA LOCAL INFILE reads (MySQL's bulk path).

Tab-separated, one row a line, ``\\N`` for NULL, backslash escapes for tab,
newline, carriage return, NUL and backslash; binaries as hex (read back with
UNHEX), floats as their exact double. Built with Arrow kernels, slice by slice
on threads, without a Python loop per row.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from djframe.backends.base import TRANSIENT_POOL, ingest_batches, single_array

BATCH_BYTES = 1 << 18  # TSV is built in slices of about this many input bytes
POOL = TRANSIENT_POOL  # the text of a slice lives only until it is written
NULL_MARK = pa.scalar("\\N", pa.large_string())
_TSV_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0"))
_NEEDS_ESCAPE = "[\\\\\t\n\r\x00]"


def is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data bytes) of a string or binary array, respecting its slice offset."""
    width = np.int64 if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type) else np.int32
    bufs = arr.buffers()
    if bufs[1] is None:
        return np.zeros(1, np.int64), np.empty(0, np.uint8)
    offsets = np.frombuffer(bufs[1], width)[arr.offset: arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size else np.empty(0, np.uint8)
    return offsets, data[offsets[0]: offsets[-1]] if len(offsets) else data[:0]


def hex_text(arr: pa.Array) -> pa.Array:
    """Binary -> lowercase hex text (the LOAD DATA form of a binary value, read back with UNHEX)."""
    return pl.from_arrow(arr.cast(pa.large_binary())).bin.encode("hex").to_arrow().cast(pa.large_string())


def tsv_text(column: pa.Array) -> pa.Array:
    """One column as LOAD DATA text: escaped strings, hex binaries, exact numbers, \\N for NULL."""
    t = column.type
    if is_binary(t):
        text = hex_text(column)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = column.cast(pa.large_string(), memory_pool=POOL)
        if pc.any(pc.match_substring_regex(text, _NEEDS_ESCAPE, memory_pool=POOL)).as_py():
            for raw, escaped in _TSV_ESCAPES:
                text = pc.replace_substring(text, raw, escaped, memory_pool=POOL)
    elif pa.types.is_boolean(t):
        text = column.cast(pa.int8(), memory_pool=POOL).cast(pa.large_string(), memory_pool=POOL)
    elif pa.types.is_floating(t):  # float32 via its exact double value
        text = column.cast(pa.float64(), memory_pool=POOL).cast(pa.large_string(), memory_pool=POOL)
    elif pa.types.is_null(t):
        text = pa.array([""] * len(column), pa.large_string())
    else:
        text = column.cast(pa.large_string(), memory_pool=POOL)
    if not column.null_count:
        return text
    return pc.if_else(pc.is_valid(column, memory_pool=POOL), text, NULL_MARK, memory_pool=POOL)


def _tsv_chunk(table: pa.Table) -> memoryview:
    """One slice of the table as TSV bytes: columns joined by tab, each row ending in a newline."""
    columns = [tsv_text(single_array(c)) for c in table.columns]
    columns[-1] = pc.binary_join_element_wise(columns[-1], pa.scalar("", pa.large_string()),
                                              pa.scalar("\n", pa.large_string()), memory_pool=POOL)
    lines = pc.binary_join_element_wise(*columns, pa.scalar("\t", pa.large_string()), memory_pool=POOL) \
        if len(columns) > 1 else columns[0]
    offsets, data = _buffers(lines)
    return memoryview(data)


def write_tsv(table: pa.Table, f) -> None:
    """Serialise slice by slice on a thread pool (Arrow kernels release the GIL), written in order, with
    only a few slices in flight: the text of the whole table is never in memory at once."""
    slices = ingest_batches(table, BATCH_BYTES)
    if len(slices) == 1:
        f.write(_tsv_chunk(pa.Table.from_batches(slices)))
        return
    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque()
        for piece in slices:
            pending.append(pool.submit(_tsv_chunk, pa.Table.from_batches([piece])))
            if len(pending) > workers:
                f.write(pending.popleft().result())
        while pending:
            f.write(pending.popleft().result())

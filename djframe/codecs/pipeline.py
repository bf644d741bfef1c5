"""Whole columns through the codec chains: the context a codec sees, the insert session that
records (and undoes) store writes, and the decode path of fetched columns.

Columns are encoded and decoded whole (`Codec.encode_many` / `Codec.decode_many`), so built-in
codecs batch their store I/O and compression; a user codec that implements only
``encode``/``decode`` is called once per value with the reference's ``key`` dict. The encoding
driver, which converts the codecs' output to the stored core type, is the write stage's
(`djframe.write.encode`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json

import pyarrow as pa

from djframe.codecs.registry import resolve_chain

# ----- per-column context ------------------------------------------------------------------------
class ColumnContext:
    """What a codec may need to encode or decode one column: where the values live."""

    def __init__(self, *, schema="", table="", field="", store_name=None, config=None,
                 keys=None, log=None, dry_run=False):
        if config is None:
            from djframe.settings import config
        self.schema, self.table, self.field = schema, table, field
        self.store_name, self.config = store_name, config
        self._keys, self.log, self.dry_run = keys, log, dry_run
        self.feeds_codec = False  # decoding: the values go on to an outer codec (views will do)

    @property
    def context(self) -> dict:
        return {"schema": self.schema, "table": self.table, "field": self.field, "config": self.config}

    @property
    def keys(self) -> list:
        """Primary-key values of each row (dicts, key order); computed on first use."""
        if callable(self._keys):
            self._keys = self._keys()
        return self._keys or []

    def row_key(self, i: int) -> dict:
        keys = self.keys
        pk = keys[i] if i < len(keys) else {}
        return {"_schema": self.schema, "_table": self.table, "_field": self.field, "_config": self.config, **pk}

    def with_store(self, store_name):
        other = ColumnContext.__new__(ColumnContext)
        other.__dict__.update(self.__dict__)
        other.store_name = store_name
        return other

    def store(self):
        from djframe.storage.stores import get_store
        return get_store(self.store_name, config=self.config)

    def put_many(self, store, items: dict, *, shared=False, objects=None) -> None:
        """Write objects (unless validating) and record them for removal if the insert fails.

        ``shared``: hash-addressed content that other rows and writers may use too
        (written atomically; left to the garbage collector after a later rollback).
        ``objects``: the paths to remove instead of each item (a folder's root)."""
        if self.dry_run or not items:
            return
        if self.log is not None:  # recorded first: a write that fails half-way is removed too
            for path in items if objects is None else objects:
                self.log.record(store, path, shared)
        store.put_many(items, atomic=shared)

    def rely_on(self, store, items: dict) -> None:
        """Existing shared objects this insert references (checked again after the insert)."""
        if self.log is not None and not self.dry_run:
            for path, data in items.items():
                self.log.rely(store, path, data)


# ----- insert sessions: which table is written, and what to undo -------------------------------
_session: contextvars.ContextVar = contextvars.ContextVar("djframe_store_writes", default=None)


def current_session() -> dict:
    """The insert session of this context: the table written, its write log, dry-run (empty outside)."""
    return _session.get() or {}


@contextlib.contextmanager
def store_writes(table, *, dry_run=False):
    """Objects written while encoding rows for ``table``; removed again if the block fails.

    Inside an open transaction the removal is also registered for a later
    rollback of that transaction.
    """
    from djframe.storage.stores import WriteLog
    log = WriteLog()
    token = _session.set({"table": table, "log": log, "dry_run": dry_run})
    try:
        yield log
    except BaseException:
        log.rollback()
        raise
    finally:
        _session.reset(token)
    log.ensure()
    undo_on_rollback(table.connection, log)


def undo_on_rollback(connection, log) -> None:
    """Inside an open transaction, a later rollback removes the objects ``log`` recorded
    (except shared hash-addressed ones, which another writer may use meanwhile: the GC's)."""
    if log.written and connection.in_transaction:
        connection.__dict__.setdefault("_on_rollback", []).append(lambda: log.rollback(shared=False))


@contextlib.contextmanager
def validating(table):
    """Encode without writing anything to a store (Table.validate)."""
    with store_writes(table, dry_run=True) as log:
        yield log


def binary_array(values: list) -> pa.Array:
    """A large_binary array built from one joined buffer (one copy, not two)."""
    import numpy as np
    present = [v if isinstance(v, bytes) else bytes(v) for v in values if v is not None]
    lengths = np.fromiter((0 if v is None else len(v) for v in values), np.int64, len(values))
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    validity = None
    if len(present) < len(values):
        validity = pa.array([v is not None for v in values]).buffers()[1]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(values),
                                            [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(present))],
                                            null_count=len(values) - len(present))


def arrow_values(column) -> list:
    """Python values of a fetched column; binary values are zero-copy memoryviews of the Arrow buffer."""
    import numpy as np
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = []
    for chunk in chunks:
        t = chunk.type
        if not (pa.types.is_binary(t) or pa.types.is_large_binary(t)):
            out += chunk.to_pylist()
            continue
        validity, offsets, data = chunk.buffers()
        offsets = np.frombuffer(offsets, np.int64 if pa.types.is_large_binary(t) else np.int32)
        offsets = offsets[chunk.offset:chunk.offset + len(chunk) + 1].tolist()
        view = memoryview(data) if data is not None else memoryview(b"")
        valid = chunk.is_valid().to_pylist() if chunk.null_count else [True] * len(chunk)
        out += [view[offsets[i]:offsets[i + 1]] if ok else None for i, ok in enumerate(valid)]
    return out


def decode_many(values, attr, connection=None) -> list:
    """Decode a fetched column: innermost codec first (JSON -> hash -> blob)."""
    chain, dtype = resolve_chain(attr.type.codec, attr.type.store)
    values = arrow_values(values) if isinstance(values, (pa.Array, pa.ChunkedArray)) else list(values)
    if dtype == "json":
        loads = _loads if chain[-1][0].name in _METADATA_CODECS else json.loads
        values = [loads(v) if isinstance(v, (str, bytes)) else v for v in values]
    ctx = ColumnContext(field=attr.name, config=connection.config if connection is not None else None)
    for depth, (codec, store) in reversed(list(enumerate(chain))):
        inner = ctx.with_store(store or None)
        inner.feeds_codec = depth > 0  # the values go to another codec, not to the user
        values = codec.decode_many(values, inner)
    return values


_METADATA_CODECS = {"hash", "object", "npy", "filepath"}  # built-in store codecs: their JSON is ours


def _loads(text):
    """Store metadata JSON -> dict; orjson when installed (3-4x faster on a column), json for
    what orjson refuses (NaN). Only for the built-in codecs' metadata: orjson reads integers
    beyond 64 bits as floats, which a user codec's JSON might hold."""
    if _orjson is not None:
        try:
            return _orjson.loads(text)
        except ValueError:
            pass
    return json.loads(text)


try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - optional speed-up
    _orjson = None


def decode(value, attr, connection=None):
    return decode_many([value], attr, connection)[0]



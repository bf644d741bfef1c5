"""The codec system: ``<name>`` and ``<name@store>`` attribute types.

A codec turns Python values into a storable type (``bytes``, ``json``, another
core type, or another codec) and back. Subclassing `Codec` with a ``name``
registers it. Types chain: ``<blob@s>`` is blob -> bytes -> ``<hash@s>`` ->
JSON; encoding runs outermost to innermost, decoding the reverse, and the
``@store`` of the outer type reaches the inner codecs.

Columns are encoded and decoded whole (`Codec.encode_many` /
`Codec.decode_many`), so built-in codecs batch their store I/O and
compression; a user codec that implements only ``encode``/``decode`` is
called once per value with the reference's ``key`` dict.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import re
from typing import Protocol, runtime_checkable

import pyarrow as pa

from djframe.errors import DataJointError, InvalidValueError

_registry: dict[str, "Codec"] = {}
_codec_registry = _registry  # the reference's name for the registry (tools clear test codecs from it)
_CODEC_TYPE = re.compile(r"^<\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:@\s*([A-Za-z0-9_-]*)\s*)?>$")


@runtime_checkable
class SparkAdapter(Protocol):
    """A codec that can also give its decoded values to Spark: an optional ``to_spark`` method
    (the reference's protocol; djframe itself never calls it)."""

    def to_spark(self, decoded, *, key=None):
        ...


class Codec:
    """Base class of codecs. Set ``name``; implement ``get_dtype``, ``encode``, ``decode``."""

    name: str = ""

    def __init_subclass__(cls, register=True, **kwargs):
        super().__init_subclass__(**kwargs)
        if not register or not cls.name:
            return
        existing = _registry.get(cls.name)
        if existing is not None and type(existing).__qualname__ != cls.__qualname__:
            raise DataJointError(f"A codec named <{cls.name}> is already registered by {type(existing).__name__}.")
        _registry[cls.name] = cls()

    def __repr__(self):
        return f"<{type(self).__name__}(name={self.name!r})>"

    def get_dtype(self, is_store: bool) -> str:
        return "bytes"

    def validate(self, value):
        """Raise TypeError/ValueError for values the codec cannot encode."""

    def encode(self, value, *, key=None, store_name=None):
        raise NotImplementedError(f"codec <{self.name}> does not implement encode")  # abstract

    def decode(self, stored, *, key=None):
        raise NotImplementedError(f"codec <{self.name}> does not implement decode")  # abstract

    def referenced_paths(self, stored) -> list:
        """(path, store) pairs a stored value points to, for the garbage collector."""
        if isinstance(stored, str):
            try:
                stored = json.loads(stored)
            except ValueError:
                return []
        if isinstance(stored, dict) and stored.get("path"):
            return [(stored["path"], stored.get("store"))]
        return []

    # ----- whole columns (override for batching) ---------------------------------------------
    def encode_many(self, values: list, ctx: "ColumnContext") -> list:
        """Encode a column; ``None`` stays ``None``. Default: `encode` per value."""
        call = _bind(self.encode, ("key", "store_name", "context"))
        out = []
        for i, v in enumerate(values):
            out.append(None if v is None else call(v, key=ctx.row_key(i), store_name=ctx.store_name,
                                                    context=ctx.context))
        return out

    def decode_many(self, values: list, ctx: "ColumnContext") -> list:
        call = _bind(self.decode, ("key", "context"))
        key = {"_config": ctx.config}
        return [None if v is None else call(bytes(v) if isinstance(v, memoryview) else v, key=key,
                                            context=ctx.context) for v in values]


def _bind(method, optional: tuple):
    """Call ``method`` with only the keyword arguments its signature declares."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        params = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = {k for k in optional if takes_all or k in params}

    def call(value, **kwargs):
        return method(value, **{k: v for k, v in kwargs.items() if k in accepted})
    return call


def get_codec(name: str) -> Codec:
    try:
        return _registry[name]
    except KeyError:
        _load_entry_points()
    try:
        return _registry[name]
    except KeyError:
        raise DataJointError(f"Codec <{name}> is not registered. Import the module that defines it "
                             f"before using the table (known codecs: {', '.join(list_codecs())}).") from None


def _load_entry_points():
    from importlib.metadata import entry_points
    for group in ("datajoint.codecs", "datajoint.types"):
        for ep in entry_points(group=group):
            try:
                ep.load()
            except Exception:  # a broken plugin must not break unrelated codecs
                continue


def list_codecs() -> list[str]:
    return sorted(_registry)


# ----- chains ------------------------------------------------------------------------------------
def parse_codec_type(text: str):
    """``"<name@store>"`` -> (name, store or None); None for a core type."""
    m = _CODEC_TYPE.match(text.strip())
    return (m.group(1), m.group(2)) if m else None


def resolve_chain(name: str, store: str | None) -> tuple[list, str]:
    """[(codec, store)] from the declared codec inward, and the core dtype ending the chain."""
    chain, seen = [], []
    while True:
        if name in seen:
            raise DataJointError(f"Codec chain {' -> '.join(f'<{n}>' for n in seen + [name])} is circular.")
        seen.append(name)
        codec = get_codec(name)
        try:
            dtype = codec.get_dtype(store is not None)
        except DataJointError:
            raise
        except Exception as e:
            raise DataJointError(f"<{name}{'@' + store if store is not None else ''}>: {e}") from None
        chain.append((codec, store))
        inner = parse_codec_type(dtype)
        if inner is None:
            return chain, dtype
        name = inner[0]
        store = inner[1] if inner[1] else store


def resolve_dtype(type_text: str) -> tuple[str, list, str | None]:
    """(core dtype ending the chain, [codecs] outermost first, store) of a declared type;
    a core type gives (itself, [], None). The reference's form of `resolve_chain`."""
    parsed = parse_codec_type(type_text)
    if parsed is None:
        return type_text.strip(), [], None
    chain, dtype = resolve_chain(*parsed)
    return dtype, [codec for codec, _ in chain], parsed[1]


def storage_type(t):
    """The CoreType a codec column is stored as; unknown codecs fall back to bytes / json."""
    from djframe.define.types import parse_type
    try:
        _, dtype = resolve_chain(t.codec, t.store)
    except DataJointError:
        dtype = "bytes" if t.store is None else "json"
    return parse_type(dtype, warn_native=False)


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


# ----- the two entry points used by the insert and fetch paths ----------------------------------
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
        from djframe.storage.stores import resolve_store_name
        return resolve_store_name(None, use_filepath_default=codec.name == "filepath", config=ctx.config)
    return store or None


def _encode_context(attr, rows, heading, backend, where) -> ColumnContext:
    session = _session.get() or {}
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
    from djframe.write.conform import convert_column
    names = [k for k in heading.primary_key if k in rows.column_names]
    table_name = where.rsplit(".", 1)[0]
    columns = []
    for k in names:
        column = rows.column(k)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        columns.append(convert_column(column, heading[k], table_name, backend).to_pylist())
    return [dict(zip(names, values)) for values in zip(*columns)] if names else [{}] * rows.num_rows


def _python_values(column) -> list:
    """Codec input values; Arrow list columns of numbers become numpy arrays, not lists."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
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
    from djframe.define.heading import Attribute
    from djframe.define.types import parse_type
    from djframe.write.conform import convert_column
    inner = Attribute(name=attr.name, type=parse_type(dtype, warn_native=False), nullable=True)
    return convert_column(values, inner, where.rsplit(".", 1)[0], backend)


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


# built-in codecs register on import
from djframe.codecs import hash as _hash  # noqa: E402,F401
from djframe.codecs.blob import BlobCodec  # noqa: E402,F401
from djframe.codecs.attach import AttachCodec  # noqa: E402,F401
from djframe.codecs.filepath import FilepathCodec  # noqa: E402,F401
from djframe.codecs.object import ObjectCodec, ObjectRef, SchemaCodec  # noqa: E402,F401
from djframe.codecs.npy import NpyCodec, NpyRef  # noqa: E402,F401

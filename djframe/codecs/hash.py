"""<hash@store>: content-addressed bytes, stored once per schema.

The object's name is the Base32 MD5 of its bytes (storage doc §13.2), so two
rows with the same content share one object and a concurrent insert of the
same content writes identical bytes to the same name (atomically), which is
harmless. Reads verify the size and the hash.
"""

from __future__ import annotations

import os

from djframe.errors import DataJointError
from djframe.storage.stores import content_hash, get_store, hash_path, verify
from djframe.codecs import Codec

_PARALLEL_BYTES = 4 << 20


def _hashes(values: list) -> list:
    """MD5s of a column; hashlib releases the GIL, so large columns use threads."""
    total = sum(len(v) for v in values)
    if total < _PARALLEL_BYTES or len(values) < 4:
        return [content_hash(v) for v in values]
    from djframe.storage.stores import chunked_map
    return chunked_map(content_hash, values, min(4, os.cpu_count() or 1))


class HashCodec(Codec):
    """<hash@store>: bytes in -> bytes out; the column holds {hash, path, schema, store, size}."""

    name = "hash"

    def get_dtype(self, is_store):
        if not is_store:
            raise DataJointError("<hash> stores bytes in an object store; declare it as <hash@store> "
                                 "(or <hash@> for the default store).")
        return "json"

    def validate(self, value):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"<hash> expects bytes, got {type(value).__name__}")

    def encode_many(self, values, ctx):
        present = [i for i, v in enumerate(values) if v is not None]
        if not present:
            return list(values)
        store = get_store(ctx.store_name, config=ctx.config)
        data = [bytes(values[i]) for i in present]
        paths = [hash_path(h, ctx.schema, store.spec) for h in _hashes(data)]
        self._write(store, dict(zip(paths, data)), ctx)
        out = list(values)
        for i, path, blob in zip(present, paths, data):
            out[i] = {"hash": path.rsplit("/", 1)[-1], "path": path, "schema": ctx.schema,
                      "store": store.name, "size": len(blob)}
        return out

    @staticmethod
    def _write(store, unique: dict, ctx):
        """Write only the objects the store does not have yet (dedup)."""
        if ctx.dry_run:
            return
        paths = list(unique)
        found = store.exists_many(paths)
        ctx.put_many(store, {p: unique[p] for p, ok in zip(paths, found) if not ok}, shared=True)
        ctx.rely_on(store, {p: unique[p] for p, ok in zip(paths, found) if ok})

    def decode_many(self, values, ctx):
        out = list(values)
        by_store: dict = {}
        for i, meta in enumerate(values):
            if meta is not None:
                by_store.setdefault(meta.get("store"), []).append(i)
        for store_name, rows in by_store.items():
            store = get_store(store_name, config=ctx.config)
            metas = [values[i] for i in rows]
            if store.protocol == "file" and ctx.feeds_codec and \
                    all(isinstance(m.get("size"), int) for m in metas):
                blobs = _read_column(store, metas)
            elif store.protocol == "file":  # read and check each object while it is in the CPU cache
                blobs = _map_io(lambda m: _checked(store, m, store.get(m["path"])), metas)
            else:  # one batched request, then the checks
                fetched = store.get_many([m["path"] for m in metas])
                blobs = _map_io(lambda pair: _checked(store, *pair), list(zip(metas, fetched)))
            for i, blob in zip(rows, blobs):
                out[i] = blob
        return out


def _read_column(store, metas: list) -> list:
    """Objects for an outer codec (``<blob@>``): read into slices of one buffer, each checked as
    soon as it is read. One large allocation instead of a fresh one per object, which on a big
    column costs more in page faults than the reads themselves."""
    import numpy as np

    from djframe.codecs.columns import empty_array
    sizes = [m["size"] for m in metas]
    starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    buffer = memoryview(empty_array((starts[-1],), np.uint8))
    views = [buffer[a:b] for a, b in zip(starts, starts[1:])]

    def read(i):
        meta, view = metas[i], views[i]
        if not store.read_into(meta["path"], view):  # size differs: read it whole, which reports it
            return _checked(store, meta, store.get(meta["path"]))
        return _checked(store, meta, view)
    return _map_io(read, list(range(len(metas))))


def _checked(store, meta: dict, blob):
    verify(blob, meta["path"], store.name, size=meta.get("size"), digest=meta.get("hash"))
    return blob


def _map_io(func, items: list) -> list:
    from djframe.storage.stores import map_io
    return map_io(func, items)

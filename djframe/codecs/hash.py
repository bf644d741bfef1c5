"""<hash@store>: content-addressed bytes, stored once per schema.

The object's name is the Base32 MD5 of its bytes (storage doc §13.2), so two
rows with the same content share one object and a concurrent insert of the
same content writes identical bytes to the same name (atomically), which is
harmless. Reads verify the size and the hash.
"""

from __future__ import annotations

import os

from ..errors import DataJointError
from ..storage import content_hash, get_store, hash_path, verify
from . import Codec

_PARALLEL_BYTES = 4 << 20


def _hashes(values: list) -> list:
    """MD5s of a column; hashlib releases the GIL, so large columns use threads."""
    total = sum(len(v) for v in values)
    if total < _PARALLEL_BYTES or len(values) < 4:
        return [content_hash(v) for v in values]
    from .blob import chunked_map
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
        missing = [p for p, found in zip(paths, store.exists_many(paths)) if not found]
        ctx.put_many(store, {p: unique[p] for p in missing}, atomic=True)

    def decode_many(self, values, ctx):
        out = list(values)
        by_store: dict = {}
        for i, meta in enumerate(values):
            if meta is not None:
                by_store.setdefault(meta.get("store"), []).append(i)
        for store_name, rows in by_store.items():
            store = get_store(store_name, config=ctx.config)
            blobs = store.get_many([values[i]["path"] for i in rows])
            _verify_all(store, [values[i] for i in rows], blobs)
            for i, blob in zip(rows, blobs):
                out[i] = blob
        return out


def _verify_all(store, metas: list, blobs: list) -> None:
    sizes = [m.get("size") for m in metas]
    for meta, blob, size in zip(metas, blobs, sizes):
        verify(blob, meta["path"], store.name, size=size)
    digests = _hashes(blobs)
    for meta, blob, digest in zip(metas, blobs, digests):
        if meta.get("hash") and digest != meta["hash"]:
            verify(blob, meta["path"], store.name, digest=meta["hash"])

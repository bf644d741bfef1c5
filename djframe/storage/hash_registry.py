"""``datajoint.hash_registry``: one object at a time in hash-addressed storage (``_hash/<schema>/<hash>``).

The reference's function API for ``<hash@>`` objects, for scripts and tools. Inserts and
fetches go through `djframe.codecs.hash`, which does the same in batches.
"""

from __future__ import annotations

import re

from djframe.errors import DataJointError
from djframe.storage.stores import StoreIntegrityError, get_store, hash_path
from djframe.storage.stores import content_hash as compute_hash

_HASH = re.compile(r"^[a-z2-7]{26}$")


def get_store_backend(store_name: str | None = None, config=None):
    """The configured store (None: the default store)."""
    return get_store(store_name, config=config)


def _spec(store_name, config) -> dict:
    if config is None:
        from djframe.settings import config
    return config.get_store_spec(store_name)


def get_store_subfolding(store_name: str | None = None, config=None):
    return _spec(store_name, config).get("subfolding")


def build_hash_path(content_hash: str, schema_name: str, subfolding=None, *, hash_prefix: str = "_hash") -> str:
    """``<hash_prefix>/<schema>/[<folds>/]<hash>`` for a content hash (26 chars of lowercase Base32)."""
    if not isinstance(content_hash, str) or not _HASH.match(content_hash):
        raise DataJointError(f"Invalid content hash {content_hash!r}: expected 26 characters of lowercase "
                             "Base32 [a-z2-7], as compute_hash() returns.")
    return hash_path(content_hash, schema_name, {"hash_prefix": hash_prefix, "subfolding": subfolding})


def put_hash(data: bytes, schema_name: str, store_name: str | None = None, config=None) -> dict:
    """Store ``data`` once per schema and content; the column metadata of a ``<hash@>`` value."""
    spec = _spec(store_name, config)
    digest = compute_hash(data)
    path = build_hash_path(digest, schema_name, spec.get("subfolding"), hash_prefix=spec.get("hash_prefix") or "")
    backend = get_store_backend(store_name, config=config)
    if not backend.exists(path):
        backend.put_buffer(data, path)
    return {"hash": digest, "path": path, "schema": schema_name, "store": store_name or backend.name,
            "size": len(data)}


def get_hash(metadata: dict, config=None) -> bytes:
    """The bytes a ``<hash@>`` value points to, checked against its content hash."""
    backend = get_store_backend(metadata.get("store"), config=config)
    data = backend.get_buffer(metadata["path"])
    found = compute_hash(data)
    if metadata.get("hash") and found != metadata["hash"]:
        raise StoreIntegrityError(f"Hash mismatch for {metadata['path']!r} in store {metadata.get('store')!r}: "
                                  f"the stored bytes hash to {found}, the row records {metadata['hash']}. "
                                  "The object was changed or corrupted in the store.")
    return data


def delete_path(path: str, store_name: str | None = None, config=None) -> bool:
    """Remove one stored object; False when it was not there."""
    backend = get_store_backend(store_name, config=config)
    if not backend.exists(path):
        return False
    backend.remove(path)
    return True


__all__ = ["build_hash_path", "compute_hash", "delete_path", "get_hash", "get_store_backend", "get_store_subfolding",
           "put_hash"]

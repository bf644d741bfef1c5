"""<filepath@store>: a file that already lives in the store, referenced in place.

The value is a path relative to the store location; it must exist and must not
point into the store's managed hash or schema sections (djframe never copies
or deletes these files). Fetch returns an `ObjectRef`.
"""

from __future__ import annotations

import datetime as dt
import os

from djframe.errors import DataJointError
from djframe.storage.stores import get_store
from djframe.codecs import Codec


class FilepathCodec(Codec):
    """<filepath@store>: relative path in -> ObjectRef out; ``@`` means stores.filepath_default."""

    name = "filepath"

    def get_dtype(self, is_store):
        if not is_store:
            raise DataJointError("<filepath> refers to files in a store; declare it as <filepath@store>.")
        return "json"

    def validate(self, value):
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"<filepath> expects a path relative to the store, got {type(value).__name__}")

    def encode_many(self, values, ctx):
        store = get_store(ctx.store_name, use_filepath_default=True, config=ctx.config)
        return [None if v is None else self._metadata(store, v) for v in values]

    @staticmethod
    def _metadata(store, value) -> dict:
        path = str(value).replace("\\", "/").lstrip("/")
        spec = store.spec
        for key in ("hash_prefix", "schema_prefix"):
            prefix = str(spec.get(key) or "").strip("/")
            if prefix and (path == prefix or path.startswith(prefix + "/")):
                raise ValueError(f"path {path!r} is inside the store's managed section {prefix!r}/; "
                                 "<filepath> may only refer to files you placed in the store yourself")
        prefix = str(spec.get("filepath_prefix") or "").strip("/")
        if prefix and not path.startswith(prefix + "/"):
            raise ValueError(f"path {path!r} must start with the store's filepath_prefix {prefix!r}/")
        if not store.exists(path):
            raise ValueError(f"{path!r} does not exist in store {store.name!r} ({store.url(path)})")
        is_dir = store.fs.isdir(store.full_path(path))
        return {"path": path, "store": store.name, "size": None if is_dir else store.size(path),
                "is_dir": is_dir, "timestamp": dt.datetime.now(dt.timezone.utc).isoformat()}

    def decode_many(self, values, ctx):
        from djframe.codecs.object import ObjectRef
        return [None if v is None else ObjectRef.from_json(v, config=ctx.config) for v in values]

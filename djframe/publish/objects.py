"""The store objects of an export: copied out beside the Parquet files, and back in on restore.

Each object a row references is copied to ``objects/<store>/<path>`` with its
size and SHA-256 in the manifest. On restore it goes to the store the row names
(or ``objects_store``'s choice), inside the *target* schema's sections
(``_hash/<schema>/...``, ``_schema/<schema>/...``), and the rows' JSON is
rewritten to match: the restored schema owns its objects even in the store the
source uses, so the garbage collector of either schema leaves the other's alone.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from djframe.errors import DataJointError
from djframe.query.frames import make_parent


def join(root: str, rel: str) -> str:
    return f"{root}/{rel}" if root else rel


def put(fs, full: str, data: bytes):
    make_parent(fs, full)
    fs.pipe_file(full, data)


def store_columns(heading) -> dict:
    """{column: codec} for columns whose stored JSON points into a store."""
    from djframe.codecs import resolve_chain
    out = {}
    for attr in heading.attributes.values():
        if attr.type.kind == "codec" and attr.type.store is not None:
            chain, dtype = resolve_chain(attr.type.codec, attr.type.store)
            if dtype == "json":
                out[attr.name] = chain[-1][0]
    return out


def copy_objects_out(refs: dict, fs, root, config) -> list:
    """Copy every referenced object (a folder's files and sidecar manifest too) into ``objects/``."""
    from djframe.storage.stores import get_store
    records = []
    by_store: dict = {}
    for (store, path), table in sorted(refs.items()):
        by_store.setdefault(store, []).append((path, table))
    for name, items in by_store.items():
        store = get_store(name or None, config=config)
        for path, table in items:
            files = store.list_files(path)
            sidecar = f"{path}.manifest.json"
            if store.exists(sidecar):
                files[sidecar] = store.size(sidecar)
            if not files:
                raise DataJointError(f"Object {path!r} in store {store.name!r}, referenced by {table}, is missing "
                                     f"({store.url(path)}). Fix the store, or export with objects=False.")
            for rel in sorted(files):
                data = bytes(store.get(rel))
                record = {"store": store.name, "path": rel, "size": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()}
                put(fs, join(root, object_file(record)), data)
                records.append(record)
    return records


class Relocation:
    """Where restored objects go: the store each record names (or ``objects_store``'s choice) and,
    in it, the target schema's sections instead of the source schema's."""

    def __init__(self, stores: dict, schemas: dict, config):
        self.stores, self.schemas, self.config = stores, schemas, config

    def store(self, name):
        from djframe.storage.stores import get_store
        return get_store(self.stores.get(name, name), config=self.config)

    def path(self, store, path: str) -> str:
        """``path`` with its schema segment renamed, when it lies in the store's hash or schema section
        (``<prefix>/[<partition>=<value>/...]<schema>/...``); other paths (``<filepath@>``) stay."""
        parts = str(path).split("/")
        for key in ("hash_prefix", "schema_prefix"):
            prefix = [p for p in str(store.spec.get(key) or "").strip("/").split("/") if p]
            if parts[:len(prefix)] != prefix:
                continue
            rest = range(len(prefix), len(parts) - 1)
            i = next((i for i in rest if "=" not in parts[i]), None)  # partition folders come first
            if i is not None and parts[i] in self.schemas:
                return "/".join(parts[:i] + [self.schemas[parts[i]]] + parts[i + 1:])
        return path

    def meta(self, meta: dict) -> dict:
        """A row's store JSON pointing at the restored object."""
        store = self.store(meta.get("store"))
        out = dict(meta, store=store.name) if meta.get("store") is not None else dict(meta)
        if "path" in meta:
            out["path"] = self.path(store, meta["path"])
        if meta.get("schema") in self.schemas:
            out["schema"] = self.schemas[meta["schema"]]
        if "url" in meta:
            out["url"] = store.url(out["path"])
        return out


def objects_to_copy(fs, root, manifest, relocate) -> list:
    """(record, target store, target path) to write; an existing different object there is an error."""
    pending = []
    for record in manifest.get("objects", ()):
        target = relocate.store(record["store"])
        path = relocate.path(target, record["path"])
        if target.exists(path):
            if hashlib.sha256(bytes(target.get(path))).hexdigest() != record["sha256"]:
                raise DataJointError(f"Store {target.name!r} already holds a different object at {path!r}; "
                                     "nothing was restored. Restore into another store (objects_store=...) or "
                                     "remove the object.")
            continue
        pending.append((record, target, path))
    return pending


def copy_objects_in(fs, root, pending, written):
    for record, target, path in pending:
        written.append((target, path))
        target.put(path, fs.cat_file(join(root, object_file(record))), atomic=True)


def object_file(record) -> str:
    return f"objects/{record['store']}/{record['path']}"


def store_map(manifest, objects_store) -> dict:
    names = {o["store"] for o in manifest.get("objects", ())}
    if objects_store is None:
        return {}
    if isinstance(objects_store, str):
        return {n: objects_store for n in names}
    if isinstance(objects_store, dict):
        return dict(objects_store)
    raise DataJointError(f"objects_store must be a store name or a dict {{recorded name: store name}}, got "
                         f"{type(objects_store).__name__}.")


def relocated_json(column: pa.Array, relocate: Relocation) -> pa.Array:
    """Point the rows' store JSON at the restored objects (store and path)."""
    out = []
    for text in column.to_pylist():
        meta = None if text is None else json.loads(text)
        out.append(json.dumps(relocate.meta(meta)) if isinstance(meta, dict) else text)
    return pa.array(out, column.type)

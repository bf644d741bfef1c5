"""<object@store>: files, folders and Zarr arrays at schema-addressed paths.

Each value gets its own path ``_schema/<schema>/<table>/<pk>/<field>_<token><ext>``
(storage doc §13.4). A numpy array is written straight into the store as a Zarr
v3 array (``.zarr`` directory: ``zarr.json`` + raw little-endian chunks), so
any Zarr reader opens it lazily; fetch returns an `ObjectRef` that reads
nothing until asked (``ref.zarr()`` opens the array without downloading it).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from ..errors import DataJointError
from ..storage import checksum, get_store, nbytes, object_path, verify
from . import Codec

ZARR_CHUNK_BYTES = 8 << 20
_ZARR_TYPES = {"b": "bool", "i": "int", "u": "uint", "f": "float", "c": "complex"}


class SchemaCodec(Codec, register=False):
    """Base of codecs whose objects live at schema-addressed paths (<object@>, <npy@>)."""

    def get_dtype(self, is_store):
        if not is_store:
            raise DataJointError(f"<{self.name}> keeps its data in an object store; declare it as "
                                 f"<{self.name}@store> (or <{self.name}@> for the default store).")
        return "json"

    @staticmethod
    def _extract_context(key, context=None):
        """(schema, table, field, primary key) from the reference's ``key``/``context`` dicts."""
        key = dict(key or {})
        context = context or {}
        schema = context.get("schema", key.pop("_schema", "unknown"))
        table = context.get("table", key.pop("_table", "unknown"))
        field = context.get("field", key.pop("_field", "data"))
        return schema, table, field, {k: v for k, v in key.items() if not k.startswith("_")}

    @staticmethod
    def _build_path(schema, table, field, pk, ext=None, store_name=None, config=None):
        store = get_store(store_name, config=config)
        path = object_path(schema, table, field, pk, ext, store.spec)
        return path, path.rsplit("_", 1)[-1].split(".")[0]

    @staticmethod
    def _get_backend(store_name=None, config=None):
        return get_store(store_name, config=config)

    def paths(self, ctx, exts: list) -> list:
        """One fresh schema-addressed path per row."""
        store = get_store(ctx.store_name, config=ctx.config)
        return [None if ext is False else object_path(ctx.schema, ctx.table, ctx.field, ctx.keys[i]
                                                      if i < len(ctx.keys) else {}, ext, store.spec)
                for i, ext in enumerate(exts)]

    def decode_many(self, values, ctx):
        stores: dict = {}
        out = []
        for meta in values:
            if meta is None:
                out.append(None)
                continue
            name = meta.get("store")
            if name not in stores:
                stores[name] = get_store(name, config=ctx.config)
            out.append(self.handle(meta, stores[name]))
        return out

    def handle(self, meta, store):
        return ObjectRef(meta, store)


class ObjectCodec(SchemaCodec):
    """<object@store>: bytes, (ext, bytes|file), a file or folder path, a numpy/Zarr array,
    or a metadata dict -> `ObjectRef`."""

    name = "object"

    def validate(self, value):
        if isinstance(value, (bytes, bytearray, str, os.PathLike, np.ndarray)) or _is_zarr(value):
            return
        if isinstance(value, tuple) and len(value) == 2:
            return
        if isinstance(value, dict) and "path" in value:
            return
        raise TypeError(f"<object> expects bytes, (ext, data), a path, a numpy array or a metadata dict, "
                        f"got {type(value).__name__}")

    def encode_many(self, values, ctx):
        store = get_store(ctx.store_name, config=ctx.config)
        prepared = [None if v is None else _prepare(v) for v in values]
        paths = self.paths(ctx, [False if p is None or p.get("meta") else p["ext"] for p in prepared])
        files: dict = {}
        out = []
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        for p, path in zip(prepared, paths):
            if p is None or p.get("meta"):
                out.append(None if p is None else p["meta"])
                continue
            entries = p["files"]
            if p["is_dir"]:
                for rel, data in entries.items():
                    files[f"{path}/{rel}"] = data
                files[f"{path}.manifest.json"] = _manifest(entries, now)
            else:
                files[path] = entries[""]
            out.append(_metadata(path, store.name, p, now))
        ctx.put_many(store, files)
        return out


# ----- what a value becomes ---------------------------------------------------------------------
def _is_zarr(value) -> bool:
    return type(value).__module__.startswith("zarr") and hasattr(value, "shape") and hasattr(value, "dtype")


def _prepare(value) -> dict:
    """{ext, is_dir, files: {relative path: bytes}} for one value (or {meta} for a pass-through)."""
    if isinstance(value, dict):
        return {"meta": value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"ext": None, "is_dir": False, "files": {"": value if isinstance(value, bytes) else bytes(value)}}
    if isinstance(value, tuple):
        ext, data = value
        data = data.read() if hasattr(data, "read") else data
        return {"ext": ext, "is_dir": False, "files": {"": bytes(data)}}
    if isinstance(value, np.ndarray) or _is_zarr(value):
        return {"ext": ".zarr", "is_dir": True, "files": zarr_files(value)}
    path = Path(value)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {"ext": path.suffix or None, "is_dir": True,
                "files": {p.relative_to(path).as_posix(): p.read_bytes() for p in files}}
    if path.is_file():
        return {"ext": path.suffix or None, "is_dir": False, "files": {"": path.read_bytes()}}
    raise ValueError(f"source path {str(path)!r} does not exist")


def _metadata(path, store_name, p, now) -> dict:
    files = p["files"]
    meta = {"path": path, "store": store_name, "size": sum(nbytes(d) for d in files.values()),
            "ext": p["ext"], "is_dir": p["is_dir"], "item_count": len(files) if p["is_dir"] else None,
            "timestamp": now}
    if not p["is_dir"]:
        meta["crc32"] = checksum(files[""])
    return meta


def _manifest(entries: dict, now) -> bytes:
    files = [{"path": rel, "size": nbytes(data), "crc32": checksum(data)} for rel, data in sorted(entries.items())]
    return json.dumps({"files": files, "total_size": sum(f["size"] for f in files),
                       "item_count": len(files), "created": now}).encode()


def zarr_files(array) -> dict:
    """A numeric array as the files of a Zarr v3 array (no compression, one chunk per ~8 MB)."""
    if _is_zarr(array):
        array = np.asarray(array[...])
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind not in _ZARR_TYPES:
        raise TypeError(f"<object> writes numeric arrays as Zarr; dtype {array.dtype} is not supported "
                        "(pass bytes or a file path instead)")
    dtype = array.dtype.newbyteorder("<")
    name = "bool" if kind == "b" else f"{_ZARR_TYPES[kind]}{dtype.itemsize * 8}"
    shape = array.shape
    row_bytes = dtype.itemsize * math.prod(shape[1:]) if shape else dtype.itemsize
    chunks = list(shape)
    if shape:
        chunks[0] = max(1, min(shape[0], ZARR_CHUNK_BYTES // max(1, row_bytes)))
    chunks = [max(1, c) for c in chunks]
    fill = False if kind == "b" else [0.0, 0.0] if kind == "c" else 0
    meta = {"zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": fill, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            "attributes": {}}
    files = {"zarr.json": json.dumps(meta).encode()}
    data = np.ascontiguousarray(array, dtype=dtype)
    if not shape:
        files["c"] = memoryview(data.reshape(-1).view(np.uint8))
        return files
    if 0 in shape:
        return files
    for i in range(math.ceil(shape[0] / chunks[0])):
        block = data[i * chunks[0]:(i + 1) * chunks[0]]
        if block.shape[0] < chunks[0]:  # edge chunks are stored full size, padded with the fill value
            padded = np.zeros((chunks[0],) + shape[1:], dtype=dtype)
            padded[:block.shape[0]] = block
            block = padded
        files["c/" + "/".join([str(i)] + ["0"] * (len(shape) - 1))] = memoryview(block.reshape(-1).view(np.uint8))
    return files


# ----- the fetched handle -------------------------------------------------------------------------
class ObjectRef:
    """A handle on a stored file or folder; no I/O until a method asks for data."""

    def __init__(self, meta: dict, store=None, config=None):
        self._meta = dict(meta)
        self._store = store
        self._config = config
        for key in ("path", "size", "hash", "ext", "is_dir", "timestamp", "mime_type", "item_count"):
            setattr(self, key, self._meta.get(key))
        self.is_dir = bool(self.is_dir)
        self.store = self._meta.get("store")

    @classmethod
    def from_json(cls, data, store=None, config=None) -> "ObjectRef":
        return cls(json.loads(data) if isinstance(data, str) else data, store, config)

    def to_json(self) -> dict:
        return dict(self._meta)

    def __repr__(self):
        return f"ObjectRef({'folder' if self.is_dir else 'file'}: {self.path}, size={self.size})"

    @property
    def _backend(self):
        if self._store is None:
            self._store = get_store(self.store, config=self._config)
        return self._store

    @property
    def fs(self):
        return self._backend.fs

    @property
    def full_path(self) -> str:
        return self._backend.full_path(self.path)

    @property
    def url(self) -> str:
        return self._meta.get("url") or self._backend.url(self.path)

    @property
    def fsmap(self):
        return self._backend.mapper(self.path)

    def _sub(self, subpath) -> str:
        return f"{self.path}/{subpath}" if subpath else self.path

    def read(self) -> bytes:
        """The file's bytes, checked against the recorded size and hash."""
        if self.is_dir:
            raise DataJointError(f"{self.path} is a folder; use open(subpath), listdir() or zarr().")
        data = self._backend.get(self.path)
        verify(data, self.path, self._backend.name, size=self.size, digest=self.hash,
               crc32=self._meta.get("crc32"))
        return data

    def open(self, subpath=None, mode="rb"):
        return self.fs.open(self._backend.full_path(self._sub(subpath)), mode)

    def listdir(self, subpath="") -> list[str]:
        base = self._backend.full_path(self._sub(subpath)).rstrip("/")
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(base, detail=False))

    def walk(self):
        base = self.full_path.rstrip("/")
        for root, dirs, files in self.fs.walk(base):
            yield root[len(base):].lstrip("/"), dirs, files

    def exists(self, subpath=None) -> bool:
        return self._backend.exists(self._sub(subpath))

    def download(self, destination, subpath=None) -> Path:
        target = Path(destination)
        source = self._backend.full_path(self._sub(subpath))
        if self.is_dir and not subpath:
            target.mkdir(parents=True, exist_ok=True)
            self.fs.get(source.rstrip("/") + "/", str(target), recursive=True)
        else:
            if target.is_dir():
                target = target / Path(self._sub(subpath)).name
            target.write_bytes(self.read() if not subpath else self._backend.get(self._sub(subpath)))
        return target

    def verify(self) -> bool:
        """Check the object against its recorded size/hash (folders: against the manifest)."""
        if not self.is_dir:
            self.read()
            return True
        from ..storage import StoreIntegrityError
        manifest = json.loads(self._backend.get(self.path + ".manifest.json"))
        for entry in manifest["files"]:
            path = f"{self.path}/{entry['path']}"
            if entry.get("crc32"):
                verify(self._backend.get(path), path, self._backend.name, size=entry["size"], crc32=entry["crc32"])
            elif self._backend.size(path) != entry["size"]:
                raise StoreIntegrityError(f"{path} has {self._backend.size(path)} bytes; the manifest "
                                          f"records {entry['size']}.")
        return True

    def zarr(self, mode="r"):
        """Open the stored Zarr array/group lazily: chunks are read only when indexed."""
        import zarr
        store = self._backend
        if store.protocol == "file":
            zstore = zarr.storage.LocalStore(store.full_path(self.path), read_only=mode == "r")
        else:
            zstore = zarr.storage.FsspecStore.from_mapper(self.fsmap, read_only=mode == "r")
        return zarr.open(store=zstore, mode=mode)

    def __array__(self, dtype=None, copy=None):
        """A stored Zarr array as numpy (reads every chunk)."""
        data = self.zarr()[...] if self.is_dir else np.load(io.BytesIO(self.read()), allow_pickle=False)
        return data if dtype is None else data.astype(dtype)

"""<object@store>: files, folders and Zarr arrays at schema-addressed paths.

Each value gets its own path ``_schema/<schema>/<table>/<pk>/<field>_<token><ext>``
(storage doc §13.4). A numpy array is written straight into the store as a Zarr
v3 array (``.zarr`` directory: ``zarr.json`` + raw little-endian chunks), so
any Zarr reader opens it lazily; fetch returns an `ObjectRef` that reads
nothing until asked (``ref.zarr()`` opens the array without downloading it).

The column JSON has the reference's keys plus what verification needs: a
file's ``crc32``; a folder's per-file records (``files``: path, size, crc32),
kept in the sidecar ``<path>.manifest.json`` instead when there are many.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np

from djframe.errors import DataJointError, MissingExternalFile
from djframe.storage.stores import StoreIntegrityError, checksum, get_store, nbytes, object_paths, verify
from djframe.codecs import Codec, ColumnContext

ZARR_CHUNK_BYTES = 8 << 20
_ZARR_TYPES = {"b": "bool", "i": "int", "u": "uint", "f": "float", "c": "complex"}


def _reference_key_context(key, context=None):
    """(schema, table, field, primary key) from the reference's ``key``/``context`` dicts."""
    key = dict(key or {})
    context = context or {}
    schema = context.get("schema", key.pop("_schema", "unknown"))
    table = context.get("table", key.pop("_table", "unknown"))
    field = context.get("field", key.pop("_field", "data"))
    return schema, table, field, {k: v for k, v in key.items() if not k.startswith("_")}


class SchemaCodec(Codec, register=False):
    """Base of codecs whose objects live at schema-addressed paths (<object@>, <npy@>)."""

    def get_dtype(self, is_store):
        if not is_store:
            raise DataJointError(f"<{self.name}> requires @: it keeps its data in an object store; declare it as "
                                 f"<{self.name}@store> (or <{self.name}@> for the default store).")
        return "json"

    def paths(self, ctx, exts: list) -> list:
        """One fresh schema-addressed path per row (None where ``exts`` has False: nothing to write)."""
        store = get_store(ctx.store_name, config=ctx.config)
        keys = ctx.keys
        rows = [i for i, ext in enumerate(exts) if ext is not False]
        made = object_paths(ctx.schema, ctx.table, ctx.field, [keys[i] if i < len(keys) else {} for i in rows],
                            [exts[i] for i in rows], store.spec)
        out = [None] * len(exts)
        for i, path in zip(rows, made):
            out[i] = path
        return out

    def encode(self, value, *, key=None, store_name=None, context=None):
        """One value, written to the store now (the reference's per-value API; inserts use `encode_many`)."""
        return self.encode_many([value], self._value_context(key, store_name, context))[0]

    def decode(self, stored, *, key=None):
        if isinstance(stored, (str, bytes)):
            stored = json.loads(stored)
        config = (key or {}).get("_config")
        return self.decode_many([stored], ColumnContext(config=config))[0]

    def _value_context(self, key, store_name, context) -> ColumnContext:
        schema, table, field, pk = _reference_key_context(key, context)
        config = (context or {}).get("config") or (key or {}).get("_config")
        return ColumnContext(schema=schema, table=table, field=field, store_name=store_name, config=config,
                             keys=[pk])

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
        if isinstance(value, (bytes, bytearray, str, os.PathLike, np.ndarray, np.generic)) or _is_zarr(value):
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
        objects: list = []  # what a failed insert removes: each object's root (a folder is removed whole)
        out = []
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        for p, path in zip(prepared, paths):
            if p is None or p.get("meta"):
                out.append(None if p is None else p["meta"])
                continue
            entries = p["files"]
            meta = _metadata(path, store.name, p, now)
            objects.append(path)
            if p["is_dir"]:
                for rel, data in entries.items():
                    files[f"{path}/{rel}"] = data
                records = file_records(entries)
                sidecar = folder_records(meta, records)
                if sidecar is not None:
                    files[path + MANIFEST] = sidecar
                    objects.append(path + MANIFEST)
            else:
                files[path] = entries[""]
            out.append(meta)
        ctx.put_many(store, files, objects=objects)
        return out


# ----- what a value becomes ---------------------------------------------------------------------
MANIFEST = ".manifest.json"
INLINE_RECORDS = 64  # a folder with more files keeps its records in the sidecar manifest


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
    if isinstance(value, (np.ndarray, np.generic)) or _is_zarr(value):
        return {"ext": ".zarr", "is_dir": True, "files": zarr_files(value)}
    path = Path(value)
    if path.is_dir():  # as the reference: a folder has no extension, whatever its name
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {"ext": None, "is_dir": True,
                "files": {p.relative_to(path).as_posix(): p.read_bytes() for p in files}}
    if path.is_file():
        return {"ext": path.suffix or None, "is_dir": False, "files": {"": path.read_bytes()}}
    raise ValueError(f"source path {str(path)!r} not found: give an existing file or folder")


def _metadata(path, store_name, p, now) -> dict:
    """The reference's column JSON (path, store, size, ext, is_dir, item_count, timestamp) plus
    a CRC-32 for a file; a folder's per-file records are added by `folder_records`."""
    files = p["files"]
    meta = {"path": path, "store": store_name, "size": sum(nbytes(d) for d in files.values()),
            "ext": p["ext"], "is_dir": p["is_dir"], "item_count": len(files) if p["is_dir"] else None,
            "timestamp": now}
    if not p["is_dir"]:
        meta["crc32"] = checksum(files[""])
    return meta


def file_records(entries: dict) -> list:
    """[{path, size, crc32}] of a folder's files, as in the manifest (crc32 where the bytes are known)."""
    return [{"path": rel, "size": nbytes(data), "crc32": checksum(data)} for rel, data in sorted(entries.items())]


def folder_records(meta: dict, records: list):
    """Attach a folder's per-file records to its column JSON (``files``) and return None, or, for
    a folder of many files, return the sidecar ``<path>.manifest.json`` bytes that keep them.

    Inline records spare a small folder (a Zarr array: zarr.json + one chunk) a third file,
    which would cost more than its data; the reference reads either (its own folders
    always have the sidecar; a folder without one it treats as valid)."""
    if len(records) <= INLINE_RECORDS:
        meta["files"] = records
        return None
    return json.dumps({"files": records, "total_size": sum(r["size"] for r in records),
                       "item_count": len(records), "created": meta["timestamp"]}, indent=2).encode()


_ZARR_META: dict = {}


def zarr_files(array) -> dict:
    """A numeric array as the files of a Zarr v3 array: ``zarr.json`` and uncompressed chunks of
    ~8 MB named ``c.<i>.0...`` (the "." separator keeps them beside zarr.json, with no ``c/``
    folder to create per array)."""
    if _is_zarr(array):
        array = np.asarray(array[...])
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind not in _ZARR_TYPES:
        raise TypeError(f"<object> writes numeric arrays as Zarr; dtype {array.dtype} is not supported "
                        "(pass bytes or a file path instead)")
    dtype = array.dtype.newbyteorder("<")
    shape = array.shape
    row_bytes = dtype.itemsize * math.prod(shape[1:]) if shape else dtype.itemsize
    chunks = list(shape)
    if shape:
        chunks[0] = max(1, min(shape[0], ZARR_CHUNK_BYTES // max(1, row_bytes)))
    chunks = [max(1, c) for c in chunks]
    files = {"zarr.json": _zarr_json(dtype, shape, chunks)}
    data = np.ascontiguousarray(array, dtype=dtype)
    if not shape:
        files["c"] = memoryview(data.reshape(-1).view(np.uint8))
        return files
    if 0 in shape:
        return files
    tail = "".join(".0" for _ in shape[1:])
    for i in range(math.ceil(shape[0] / chunks[0])):
        block = data[i * chunks[0]:(i + 1) * chunks[0]]
        if block.shape[0] < chunks[0]:  # edge chunks are stored full size, padded with the fill value
            padded = np.zeros((chunks[0],) + shape[1:], dtype=dtype)
            padded[:block.shape[0]] = block
            block = padded
        files[f"c.{i}{tail}"] = memoryview(block.reshape(-1).view(np.uint8))
    return files


def _zarr_json(dtype, shape, chunks) -> bytes:
    """The array's zarr.json (the same for every array of one dtype and shape, so made once)."""
    key = (dtype.str, tuple(shape), tuple(chunks))
    text = _ZARR_META.get(key)
    if text is None:
        kind = dtype.kind
        name = "bool" if kind == "b" else f"{_ZARR_TYPES[kind]}{dtype.itemsize * 8}"
        fill = False if kind == "b" else [0.0, 0.0] if kind == "c" else 0
        text = json.dumps({
            "zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
            "fill_value": fill, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            "attributes": {}}).encode()
        if len(_ZARR_META) < 1024:
            _ZARR_META[key] = text
    return text


def plain_zarr(files: dict):
    """The array in the files of an uncompressed Zarr v3 array (as `zarr_files` writes them), or
    None for any other layout (then zarr itself reads it). One chunk becomes a view, not a copy."""
    try:
        meta = json.loads(bytes(files["zarr.json"]))
        codecs, encoding = meta["codecs"], meta["chunk_key_encoding"]
        if meta.get("node_type") != "array" or meta["chunk_grid"]["name"] != "regular" or \
                encoding["name"] != "default" or len(codecs) != 1 or codecs[0]["name"] != "bytes" or \
                codecs[0].get("configuration", {}).get("endian", "little") != "little":
            return None
        dtype = np.dtype("?" if meta["data_type"] == "bool" else meta["data_type"]).newbyteorder("<")
        fill = meta["fill_value"]
        fill = complex(*fill) if isinstance(fill, list) else float(fill) if isinstance(fill, str) else fill
    except (KeyError, TypeError, ValueError):
        return None
    shape, chunks = tuple(meta["shape"]), tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    sep = encoding.get("configuration", {}).get("separator", "/")
    grid = [-(-s // c) for s, c in zip(shape, chunks)]
    keys = {idx: sep.join(["c", *map(str, idx)]) for idx in itertools.product(*map(range, grid))}
    if shape == chunks and keys[(0,) * len(shape)] in files:
        return np.frombuffer(files[keys[(0,) * len(shape)]], dtype).reshape(shape)
    out = np.full(shape, fill, dtype)
    for idx, key in keys.items():
        if key in files:
            block = np.frombuffer(files[key], dtype).reshape(chunks)
            region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunks, shape))
            out[region] = block[tuple(slice(0, r.stop - r.start) for r in region)]
    return out


# ----- the fetched handle -------------------------------------------------------------------------
class ObjectRef:
    """A handle on a stored file or folder; no I/O until a method asks for data."""

    def __init__(self, meta: dict | None = None, store=None, config=None, **fields):
        """From a column's metadata dict, or its fields as keywords (``ObjectRef(path=..., size=...)``)."""
        if isinstance(fields.get("timestamp"), dt.datetime):
            fields["timestamp"] = fields["timestamp"].isoformat()
        self._meta = {**(meta or {}), **fields}
        self._store = store
        self._config = config
        for key in ("path", "size", "hash", "ext", "is_dir", "mime_type", "item_count"):
            setattr(self, key, self._meta.get(key))
        self.is_dir = bool(self.is_dir)
        self.store = self._meta.get("store")

    @property
    def timestamp(self):
        """When the object was written, as a datetime (as the reference's ObjectRef gives it)."""
        return _parse_time(self._meta.get("timestamp"))

    @classmethod
    def from_json(cls, data, store=None, config=None) -> "ObjectRef":
        return cls(json.loads(data) if isinstance(data, str) else data, store, config)

    def to_json(self) -> dict:
        return dict(self._meta)

    def __repr__(self):
        return f"ObjectRef({'folder' if self.is_dir else 'file'}: {self.path}, size={self.size})"

    def __str__(self):
        return str(self.path)

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
            raise DataJointError(f"Cannot read {self.path}: it is a folder; use open(subpath), listdir() or zarr().")
        data = self._backend.get(self.path)
        verify(data, self.path, self._backend.name, size=self.size, digest=self.hash,
               crc32=self._meta.get("crc32"))
        return data

    def open(self, subpath=None, mode="rb"):
        return self.fs.open(self._backend.full_path(self._sub(subpath)), mode)

    def listdir(self, subpath="") -> list[str]:
        if not self.is_dir:
            raise DataJointError(f"Cannot listdir {self.path}: it is a file, not a folder; use read() or open().")
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
        """Check the object against what its row records: a file's size and checksum; a folder's
        per-file records (in the column or the sidecar manifest), else its file count and size."""
        if not self.is_dir:
            self.read()
            return True
        records = self.records()
        if records is None:
            self._verify_listing()
        else:
            self._verified_files(records, read=any(r.get("crc32") for r in records))
        return True

    def records(self):
        """[{path, size, crc32?}] of a folder's files, from the column JSON or the sidecar manifest
        (None when neither exists: a folder written by another tool)."""
        if self._meta.get("files") is not None:
            return self._meta["files"]
        try:
            manifest = json.loads(self._backend.get(self.path + MANIFEST))
        except MissingExternalFile:
            return None
        return manifest.get("files")

    def _verified_files(self, records, read=True) -> dict:
        """{relative path: bytes} of the folder's files (read in one batch), each checked."""
        store = self._backend
        paths = [f"{self.path}/{r['path']}" for r in records]
        if not read:
            for path, r in zip(paths, records):
                if store.size(path) != r["size"]:
                    raise StoreIntegrityError(f"Stored object {path!r} in store {store.name!r} has "
                                              f"{store.size(path)} bytes but its record says {r['size']}.")
            return {}
        blobs = store.get_many(paths, mutable=True)
        for path, r, blob in zip(paths, records, blobs):
            verify(blob, path, store.name, size=r.get("size"), crc32=r.get("crc32"))
        return {r["path"]: blob for r, blob in zip(records, blobs)}

    def _verify_listing(self) -> None:
        found = self._backend.list_files(self.path)
        total = sum(found.values())
        if not found:
            raise self._backend.missing_error(self.path)
        if (self.item_count is not None and len(found) != self.item_count) or \
                (self.size is not None and total != self.size):
            raise StoreIntegrityError(f"Stored folder {self.path!r} in store {self._backend.name!r} holds "
                                      f"{len(found)} file(s), {total} bytes; its row records "
                                      f"{self.item_count} file(s), {self.size} bytes.")

    def zarr(self, mode="r"):
        """Open the stored Zarr array/group lazily: chunks are read only when indexed. Read-only,
        every whole-file read is checked against the folder's per-file records when the row has
        them (a folder written by another tool has none: `verify()` then checks its listing)."""
        import zarr
        store = self._backend
        if store.protocol == "file":
            zstore = zarr.storage.LocalStore(store.full_path(self.path), read_only=mode == "r")
        else:
            zstore = zarr.storage.FsspecStore.from_mapper(self.fsmap, read_only=mode == "r")
        records = self.records() if mode == "r" else None
        if records:
            zstore = checked_zarr_store(zstore, self.path, store.name, records)
        return zarr.open(store=zstore, mode=mode)

    def __array__(self, dtype=None, copy=None):
        """The stored array as numpy: a ``.npy`` file, or a Zarr array read whole. Every file read is
        checked against its record; djframe's own uncompressed Zarr layout is decoded directly."""
        if not self.is_dir:
            data = np.load(io.BytesIO(self.read()), allow_pickle=False)
        else:
            records = self.records()
            if records is None:  # no per-file records: check what can be checked, then let zarr read
                self._verify_listing()
                data = self.zarr()[...]
            else:
                files = self._verified_files(records)
                data = plain_zarr(files)
                if data is None:  # compressed or otherwise: zarr decodes the bytes already read
                    data = _zarr_from_files(files)
        return data if dtype is None else data.astype(dtype)


def checked_zarr_store(zstore, path: str, store_name: str, records: list):
    """``zstore`` wrapped so that each file zarr reads whole is checked against its record (size,
    CRC-32) before zarr decodes it; a file the records do not list is refused."""
    from zarr.storage import WrapperStore

    expected = {r["path"]: r for r in records}

    class CheckedStore(WrapperStore):
        async def get(self, key, prototype, byte_range=None):
            buffer = await self._store.get(key, prototype, byte_range)
            if buffer is not None and byte_range is None:
                record = expected.get(key)
                if record is None:
                    raise StoreIntegrityError(f"Stored folder {path!r} in store {store_name!r} holds "
                                              f"{key!r}, which its row does not record.")
                verify(buffer.to_bytes(), f"{path}/{key}", store_name, size=record.get("size"),
                       crc32=record.get("crc32"))
            return buffer

    return CheckedStore(zstore)


def _zarr_from_files(files: dict) -> np.ndarray:
    import zarr
    from zarr.core.buffer import default_buffer_prototype
    buffer = default_buffer_prototype().buffer
    memory = zarr.storage.MemoryStore({k: buffer.from_bytes(bytes(v)) for k, v in files.items()}, read_only=True)
    return zarr.open(store=memory, mode="r")[...]


def _parse_time(text):
    """The ISO timestamp as a datetime, as the reference's ObjectRef gives it."""
    if isinstance(text, str):
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    return text

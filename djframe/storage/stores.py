"""Object stores over fsspec: paths, verified reads, atomic writes, batch I/O.

A `Store` is one configured store (``dj.config["stores"][name]``, storage doc
§13.1). Paths inside a store are relative (``_hash/<schema>/<hash>``,
``_schema/<schema>/<table>/<pk>/<field>_<token>.npy``); the column JSON keeps
that relative path and the store name, so a later change of location or
subfolding never breaks old rows. Reads check the size and, where one is known,
the content hash, so a truncated or swapped file is a clear error, not a
silently wrong array. Writes of whole columns run in threads (local files) or
as one batched async call (s3fs), because per-object latency dominates.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
import urllib.parse
import uuid
import zlib
from datetime import date, datetime
from pathlib import Path

from djframe.errors import DataJointError, MissingExternalFile, StoreIntegrityError  # noqa: F401 (the reference's path)
from djframe.settings import StorageAdapter, get_storage_adapter  # noqa: F401 (the reference's path)

logger = logging.getLogger("djframe")

_UNSAFE = set('/\\:*?"<>|')
_THREADS = min(16, (os.cpu_count() or 2) * 2)


# ----- path rules (storage doc §13.2, §13.4) ---------------------------------------------------
def content_hash(data) -> str:
    """MD5 of the bytes, Base32 without padding, lowercase: 26 chars [a-z2-7]."""
    return base64.b32encode(hashlib.md5(data).digest()).decode("ascii").rstrip("=").lower()


try:  # the same CRC-32, computed faster
    from zlib_ng.zlib_ng import crc32 as _crc32
except ImportError:  # pragma: no cover - optional speed-up
    _crc32 = zlib.crc32


def checksum(data) -> str:
    """CRC-32 of stored bytes (or of a sequence of chunks), as 8 hex digits: cheap enough to
    record for every schema-addressed object (MD5 is kept for content addresses)."""
    if isinstance(data, (list, tuple)):
        crc = 0
        for chunk in data:
            crc = _crc32(chunk, crc)
        return f"{crc:08x}"
    return f"{_crc32(data):08x}"


def nbytes(data) -> int:
    if isinstance(data, (list, tuple)):
        return sum(memoryview(c).nbytes for c in data)
    return memoryview(data).nbytes


def hash_path(digest: str, schema: str, spec: dict) -> str:
    """``<hash_prefix>/<schema>/[<folds>/]<hash>`` (prefix omitted when empty)."""
    parts = [p for p in [str(spec.get("hash_prefix") or "").strip("/"), schema] if p]
    rest = digest
    for n in spec.get("subfolding") or ():
        parts.append(rest[:n])
        rest = rest[n:]
    return "/".join(parts + [digest])


def encode_pk_value(value) -> str:
    """A primary-key value as a path segment, exactly as the reference spells it."""
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H-%M-%S")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if len(text) > 100 or any(c in _UNSAFE for c in text):
        if len(text) > 100:
            text = text[:50] + "_" + hashlib.md5(text.encode()).hexdigest()[:8]
        return urllib.parse.quote(text, safe="")
    return text


def new_tokens(count: int, length: int = 8) -> list[str]:
    """``count`` random tokens from one draw of the OS's random source."""
    length = max(4, min(16, int(length)))
    text = base64.urlsafe_b64encode(secrets.token_bytes(12 * count)).decode("ascii")
    return [text[16 * i:16 * i + length] for i in range(count)]


def generate_token(length: int = 8) -> str:
    """Random ``[A-Za-z0-9_-]{length}`` (length clamped to 4..16): URL-safe Base64 of random bytes is
    uniform over that alphabet."""
    return new_tokens(1, length)[0]


def build_object_path(schema: str, table: str, field: str, primary_key: dict, ext: str | None,
                      partition_pattern: str | None = None, token_length: int = 8, *,
                      schema_prefix: str = "_schema") -> tuple[str, str]:
    """(path, token) of a new schema-addressed object, laid out as `object_path` does."""
    spec = {"partition_pattern": partition_pattern, "token_length": token_length, "schema_prefix": schema_prefix}
    path = object_path(schema, table, field, dict(primary_key), ext, spec)
    name = path.rsplit("/", 1)[-1][len(field) + 1:]
    return path, name[:max(4, min(16, int(token_length)))]


def object_path(schema: str, table: str, field: str, key: dict, ext: str | None, spec: dict) -> str:
    """``<schema_prefix>/<partition parts>/<schema>/<table>/<pk parts>/<field>_<token><ext>``.

    Partition attributes are the ``{attr}`` placeholders of ``partition_pattern``
    (text outside braces is ignored, as in the reference).
    """
    return object_paths(schema, table, field, [key], [ext], spec)[0]


def object_paths(schema: str, table: str, field: str, keys: list, exts: list, spec: dict) -> list[str]:
    """`object_path` for a column of rows (the fixed parts worked out once)."""
    partition = re.findall(r"\{(\w+)\}", spec.get("partition_pattern") or "")
    prefix = str(spec.get("schema_prefix") or "").strip("/")
    tokens = new_tokens(len(keys), spec.get("token_length") or 8)
    out = []
    for key, ext, token in zip(keys, exts, tokens):
        parts = [prefix] + [f"{a}={encode_pk_value(key[a])}" for a in partition if a in key]
        parts += [schema, table] + [f"{a}={encode_pk_value(v)}" for a, v in key.items() if a not in partition]
        if ext and not ext.startswith("."):
            ext = "." + ext
        parts.append(f"{field}_{token}{ext or ''}")
        out.append("/".join(p for p in parts if p))
    return out


# ----- stores ------------------------------------------------------------------------------
_BUILT_IN = ("file", "s3", "gcs", "azure")


class Store:
    """One configured store: fsspec filesystem plus the store's root."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.name = spec["name"]
        self.protocol = spec["protocol"]
        self._fs = None
        self._adapter = None
        self._lock = threading.Lock()
        self.root = self._root()
        self._prefix = self.root.rstrip("/") + "/"

    def __repr__(self):
        return f"Store({self.name!r}, {self.protocol}://{self.root})"

    @property
    def fs(self):
        with self._lock:
            if self._fs is None:
                self._fs = self._make_fs()
        return self._fs

    def _make_fs(self):
        import fsspec
        spec = self.spec
        if self.protocol == "file":
            return fsspec.filesystem("file", auto_mkdir=True)
        if self.protocol == "s3":
            endpoint = str(spec["endpoint"])
            if not endpoint.startswith(("http://", "https://")):
                endpoint = f"{'https' if spec.get('secure', True) else 'http'}://{endpoint}"
            try:
                return fsspec.filesystem("s3", key=spec.get("access_key") or None,
                                         secret=spec.get("secret_key") or None,
                                         client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
            except ImportError:
                raise DataJointError("The s3 protocol needs the s3fs package.",
                                     "Install it with `pip install djframe[s3]` (or `pip install s3fs`).") from None
        if self.protocol == "gcs":
            return fsspec.filesystem("gcs", token=spec.get("token"), project=spec.get("project"))
        if self.protocol == "azure":
            return fsspec.filesystem("abfs", account_name=spec.get("account_name"),
                                     account_key=spec.get("account_key"),
                                     connection_string=spec.get("connection_string"))
        return self.adapter.create_filesystem(spec)

    @property
    def adapter(self) -> StorageAdapter | None:
        """The plugin serving this store's protocol (None for the built-in protocols)."""
        if self.protocol in _BUILT_IN:
            return None
        if self._adapter is None:
            self._adapter = get_storage_adapter(self.protocol)
            if self._adapter is None:
                raise DataJointError(f"Store {self.name!r}: no storage adapter is installed for protocol "
                                     f"{self.protocol!r}.", "Install the package that provides it.")
        return self._adapter

    def _root(self) -> str:
        if self.adapter is not None:
            return self.adapter.full_path(self.spec, "").rstrip("/")
        location = str(self.spec.get("location") or "").strip("/") if self.protocol != "file" else \
            str(Path(self.spec.get("location") or ".").expanduser())
        if self.protocol == "file":
            return location.rstrip("/") or "/"
        bucket = self.spec.get("bucket") or self.spec.get("container") or ""
        return "/".join(p for p in (bucket, location) if p)

    def full_path(self, path: str) -> str:
        return self._prefix + str(path).lstrip("/")

    def url(self, path: str) -> str:
        if self.adapter is not None:
            return self.adapter.get_url(self.spec, path)
        scheme = {"file": "file://", "s3": "s3://", "gcs": "gs://", "azure": "az://"}.get(
            self.protocol, f"{self.protocol}://")
        return scheme + self.full_path(path)

    # ----- single objects ----------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        if self.protocol == "file":
            return os.path.exists(self.full_path(path))
        return self.fs.exists(self.full_path(path))

    def size(self, path: str) -> int:
        try:
            if self.protocol == "file":
                return os.path.getsize(self.full_path(path))
            return int(self.fs.size(self.full_path(path)))
        except (FileNotFoundError, OSError):
            raise self.missing_error(path) from None

    def put(self, path: str, data, atomic=True) -> None:
        """Write bytes. On a local disk ``atomic`` goes through a temporary file and a rename,
        so readers and concurrent writers of the same (hash-addressed) content never see a
        partial object; fresh schema-addressed paths have no other writer and skip it.
        S3 puts are atomic anyway."""
        if self.protocol == "file":
            _write_local(self.full_path(path), data, atomic)
        else:
            self.fs.pipe_file(self.full_path(path), _joined(data))

    def put_buffer(self, buffer, path: str) -> None:
        """The reference's `StorageBackend.put_buffer`: write bytes at ``path`` (atomically)."""
        self.put(path, buffer)

    def get_buffer(self, path: str):
        """The reference's `StorageBackend.get_buffer`: the bytes at ``path``."""
        return self.get(path)

    def get(self, path: str, mutable: bool = False):
        """The object's bytes (a writable uint8 array when ``mutable``: arrays viewing it stay writable)."""
        try:
            if self.protocol == "file":
                return _read_local(self.full_path(path), mutable)
            data = self.fs.cat_file(self.full_path(path))
            return _writable(data) if mutable else data
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self.missing_error(path) from None

    def read_into(self, path: str, buffer) -> bool:
        """Read a local object into a preallocated writable buffer of its recorded size; False when
        the file's size differs (the caller reads it whole to report the mismatch)."""
        try:
            return _read_local_into(self.full_path(path), memoryview(buffer).cast("B"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self.missing_error(path) from None

    def missing_error(self, path) -> MissingExternalFile:
        return MissingExternalFile(f"Stored object {path!r} is missing from store {self.name!r} "
                                   f"({self.url(path)}). It was deleted or the store location changed.")

    def put_file(self, local, path: str) -> int:
        self.put(path, Path(local).read_bytes())
        return os.path.getsize(local)

    def put_folder(self, local, path: str) -> list[dict]:
        """Upload a directory tree; returns the manifest entries (relative path, size)."""
        local = Path(local)
        files = sorted(p for p in local.rglob("*") if p.is_file())
        entries = [{"path": p.relative_to(local).as_posix(), "size": p.stat().st_size} for p in files]
        self.put_many({f"{path}/{e['path']}": p.read_bytes() for e, p in zip(entries, files)})
        return entries

    def remove(self, path: str) -> None:
        """Delete an object or a directory tree; a missing one is not an error."""
        full = self.full_path(path)
        try:
            if self.protocol == "file":
                if os.path.isdir(full):
                    import shutil
                    shutil.rmtree(full, ignore_errors=True)
                elif os.path.lexists(full):
                    os.remove(full)
            elif self.fs.exists(full):
                self.fs.rm(full, recursive=True)
        except FileNotFoundError:
            pass

    def prune(self, paths) -> None:
        """Remove the folders left empty above removed objects, up to the store root (local disks;
        object stores have no folders)."""
        if self.protocol != "file":
            return
        root = self.root.rstrip("/")
        for folder in sorted({os.path.dirname(self.full_path(p)) for p in paths}, reverse=True):
            while folder.startswith(self._prefix) and folder != root:
                try:
                    os.rmdir(folder)
                except OSError:  # not empty (or gone): the folders above are in use too
                    break
                folder = os.path.dirname(folder)

    # ----- whole columns -------------------------------------------------------------------------
    def put_many(self, items: dict, atomic=True) -> None:
        """Write many objects at once (threads on disk, one batched call on s3)."""
        if not items:
            return
        if self.protocol == "file":
            prefix = self._prefix
            map_io(lambda kv: _write_local(prefix + kv[0], kv[1], atomic), list(items.items()))
        else:
            self.fs.pipe({self.full_path(p): _joined(d) for p, d in items.items()})

    def get_many(self, paths: list, mutable: bool = False) -> list:
        """Read many objects at once, in order."""
        if not paths:
            return []
        if self.protocol == "file":
            return map_io(lambda p: self.get(p, mutable), paths)
        fulls = [self.full_path(p) for p in paths]
        found = self.fs.cat(fulls, on_error="return")
        out = []
        for p, full in zip(paths, fulls):
            value = found.get(full)
            if isinstance(value, BaseException) or value is None:
                raise self.missing_error(p)
            out.append(_writable(value) if mutable else value)
        return out

    def exists_many(self, paths: list) -> list[bool]:
        if self.protocol == "file":
            return [os.path.exists(self.full_path(p)) for p in paths]
        return map_io(self.exists, paths)

    def remove_many(self, paths, prune=True) -> None:
        """Delete objects (and on a local disk the folders they leave empty)."""
        paths = list(paths)
        map_io(self.remove, paths)
        if prune:
            self.prune(paths)

    def list_files(self, prefix: str) -> dict[str, int]:
        """Every file under ``prefix`` (relative paths) with its size."""
        base = self.full_path(prefix).rstrip("/")
        if self.protocol == "file":
            return _list_local(base, len(self._prefix))
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        root = self.full_path("").rstrip("/")
        out = {}
        for full, info in found.items():
            if info.get("type") == "directory":
                continue
            rel = full[len(root):].lstrip("/") if full.startswith(root) else full
            out[rel] = int(info.get("size") or 0)
        return out

    def mapper(self, path: str):
        """An fsspec key-value map at ``path`` (e.g. for ``zarr.open``)."""
        return self.fs.get_mapper(self.full_path(path))


# ----- local disk: plain system calls (fsspec's per-call overhead is most of a small write) -------
_O_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_MAX_WRITE = 1 << 30


def _write_local(full: str, data, atomic: bool) -> None:
    """Write bytes (or a sequence of chunks) to a local file, creating its folders on demand:
    the first file of a new folder finds it missing, so no check is paid for every file."""
    target = f"{full}.{uuid.uuid4().hex[:12]}.part" if atomic else full
    for attempt in range(3):  # a failed insert may prune an emptied folder at the same moment
        try:
            fd = os.open(target, _O_WRITE, 0o666)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
            os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        try:
            for chunk in data if isinstance(data, (list, tuple)) else (data,):
                view = memoryview(chunk).cast("B")
                while view.nbytes:
                    view = view[os.write(fd, view[:_MAX_WRITE]):]
        finally:
            os.close(fd)
        if atomic:
            os.replace(target, full)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(target)
        raise


def _read_local(full: str, mutable: bool):
    """A local file's bytes; ``mutable``: into a writable, uninitialised numpy buffer (a bytearray
    would be zeroed first), so arrays viewing it need no copy."""
    fd = os.open(full, _O_READ)
    try:
        size = os.fstat(fd).st_size
        if not mutable:
            first = os.read(fd, min(size, _MAX_WRITE) or 1)
            if len(first) == size:
                return first
            return b"".join([first, *iter(lambda: os.read(fd, _MAX_WRITE), b"")])
        import numpy as np
        buf = np.empty(size, np.uint8)
        view, done = memoryview(buf), 0
        while done < size:
            n = os.readv(fd, [view[done:]])
            if not n:  # the file shrank while it was read: what was read is what it holds
                return buf[:done]
            done += n
        return buf
    finally:
        os.close(fd)


def _read_local_into(full: str, view: memoryview) -> bool:
    fd = os.open(full, _O_READ)
    try:
        if os.fstat(fd).st_size != view.nbytes:
            return False
        done = 0
        while done < view.nbytes:
            n = os.readv(fd, [view[done:]])
            if not n:
                return False
            done += n
        return True
    finally:
        os.close(fd)


def _list_local(base: str, cut: int) -> dict[str, int]:
    """{path relative to the store root: size} of every file under a local folder."""
    out: dict = {}
    if os.path.isfile(base):
        return {base[cut:]: os.path.getsize(base)}
    for folder, _, names in os.walk(base):
        for name in names:
            full = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                out[full[cut:].replace(os.sep, "/")] = os.stat(full).st_size
    return out


def _writable(data):
    import numpy as np
    return np.frombuffer(data, np.uint8).copy()


def _joined(data) -> bytes:
    """One bytes object from bytes or a sequence of bytes-like chunks (header + array buffer)."""
    if isinstance(data, (list, tuple)):
        return b"".join(data)
    return data if isinstance(data, bytes) else bytes(data)


def chunked_map(func, items: list, workers: int) -> list:
    """``[func(x) for x in items]`` on ``workers`` threads, a few slices each
    (ThreadPoolExecutor.map makes one future per item, which costs more than small items)."""
    step = max(1, -(-len(items) // (4 * workers)))
    slices = [items[i:i + step] for i in range(0, len(items), step)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = pool.map(lambda part: [func(x) for x in part], slices)
        return [y for part in done for y in part]


def map_io(func, items: list) -> list:
    """I/O-bound work on threads (more threads than cores: they mostly wait)."""
    if len(items) < 4:
        return [func(x) for x in items]
    return chunked_map(func, items, min(_THREADS, len(items)))


_stores: dict = {}
_resolved: dict = {}
_stores_lock = threading.Lock()


def get_store(name: str | None = None, *, use_filepath_default=False, config=None) -> Store:
    """The `Store` for a configured name ("" or None: stores.default). Reused while its spec is unchanged."""
    if config is None:
        from djframe.settings import config
    # validating a spec is slow (it looks up storage plugins), and every column of every insert asks:
    # remember the answer for as long as the configured stores stay the same
    try:
        configured = json.dumps(config["stores"], sort_keys=True, default=str)
    except (TypeError, ValueError):
        configured = None
    request = (id(config), name or None, use_filepath_default, configured)
    store = _resolved.get(request) if configured is not None else None
    if store is not None:
        return store
    spec = config.get_store_spec(name or None, use_filepath_default=use_filepath_default)
    cache_key = json.dumps(spec, sort_keys=True, default=str)
    with _stores_lock:
        store = _stores.get(cache_key)
        if store is None:
            store = _stores[cache_key] = Store(spec)
        if configured is not None:
            if len(_resolved) > 256:
                _resolved.clear()
            _resolved[request] = store
    return store


def resolve_store_name(name: str | None, *, use_filepath_default=False, config=None) -> str:
    """``<codec@>`` means the default store; return the name to write into the column JSON."""
    return get_store(name, use_filepath_default=use_filepath_default, config=config).name


# ----- verification --------------------------------------------------------------------------
def verify(data, path: str, store_name: str, size=None, digest=None, crc32=None) -> None:
    """Raise `StoreIntegrityError` when the bytes read differ from the row's record
    (size, then CRC-32 or MD5 content hash, whichever the row has)."""
    def fail(what):
        return StoreIntegrityError(f"Stored object {path!r} in store {store_name!r} {what}. "
                                   "The file was modified or truncated after it was written.")
    if size is not None and len(data) != int(size):
        raise fail(f"has {len(data)} bytes but its row records {size}")
    if crc32 and checksum(data) != crc32:
        raise fail(f"fails its CRC-32 check (expected {crc32}, got {checksum(data)})")
    if digest and content_hash(data) != digest:
        raise fail(f"fails its checksum (expected MD5 {digest}, got {content_hash(data)})")


# ----- objects written by one insert ------------------------------------------------------------
class WriteLog:
    """The objects one insert created, so a failed insert can remove them again.

    Hash-addressed objects are shared: one that already existed is not
    recorded (other rows reference it) but remembered, and re-written after
    the insert if a concurrent failing insert removed it in the meantime.
    """

    def __init__(self):
        self.written: list[tuple[Store, str, bool]] = []
        self.relied: list[tuple[Store, str, object]] = []
        self._lock = threading.Lock()

    def record(self, store: Store, path: str, shared: bool = False) -> None:
        with self._lock:
            self.written.append((store, path, shared))

    def rely(self, store: Store, path: str, data) -> None:
        with self._lock:
            self.relied.append((store, path, data))

    def rollback(self, shared: bool = True) -> None:
        """Remove what was written (``shared=False``: leave hash-addressed objects to the GC)."""
        by_store: dict = {}
        for store, path, is_shared in self.written:
            if shared or not is_shared:
                by_store.setdefault(id(store), (store, []))[1].append(path)
        self.written = []
        for store, paths in by_store.values():
            try:
                store.remove_many(paths)
            except Exception as e:  # cleanup must not mask the insert's own error
                logger.warning("Could not remove %d object(s) written by a failed insert from store %s: %s",
                               len(paths), store.name, e)

    def ensure(self) -> None:
        """Re-write relied-upon shared objects that vanished while this insert ran."""
        for store, path, data in self.relied:
            if not store.exists(path):
                logger.warning("Hash-addressed object %s vanished during the insert; writing it again.", path)
                store.put(path, data, atomic=True)
        self.relied = []

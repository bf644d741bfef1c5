"""staged_insert1: write an <object@> value straight into its store, then insert the row.

Large objects (a Zarr array written chunk by chunk, an HDF5 file) are written
where they will stay, not copied there from a local file:

    with Recording.staged_insert1 as staged:
        staged.rec["rec_id"] = 1                          # the primary key first: it is in the path
        z = zarr.open(staged.store("traces", ".zarr"), mode="w", shape=(n, 64), dtype="f4")
        z[:] = data
        with staged.open("raw", ".bin") as f:
            f.write(payload)

On a clean exit each staged field's metadata is computed from what was written
(sizes, file count, checksum where djframe saw the bytes) and the row is
inserted in one transaction; if the block or the insert fails, every staged
object is removed and nothing is inserted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zlib

from djframe.errors import DataJointError


class StagedInsert:
    """One staged row: ``rec`` holds its attribute values, ``store``/``open`` give places to write.

    Objects go to the same schema-addressed path a normal insert would use,
    ``_schema/<schema>/<table>/<pk>/<field>_<token><ext>``, with the table name
    including its tier prefix. (The reference uses the class name here but the
    table name in normal inserts; we keep one layout for both.)
    """

    def __init__(self, table, check_allowed=lambda: None):
        from djframe.storage.stores import WriteLog
        self._table = table
        self._check_allowed = check_allowed  # the table's own rule (auto-populated tables: only in make())
        self.rec: dict = {}
        self._staged: dict = {}  # field -> {"store", "path", "ext", "file": the last handle opened}
        self._handles: list = []
        self._log = WriteLog()

    # ----- the context manager -----------------------------------------------------------------
    def __enter__(self):
        self._check_allowed()  # refused on auto-populated tables outside make()
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None:
            self._discard()
            return False
        try:
            self._finish()
        except BaseException:
            self._discard()
            raise
        return False

    # ----- places to write -------------------------------------------------------------------
    def store(self, field: str, ext: str = ""):
        """An fsspec mapper at the field's final path, e.g. ``zarr.open(staged.store("f", ".zarr"))``."""
        store, path = self._place(field, ext)
        return store.mapper(path)

    def open(self, field: str, ext: str = "", mode: str = "wb"):
        """A file at the field's final path. Bytes written in order through a binary handle are
        checksummed on the way (a handle that seeks, or a text one, records the size only)."""
        store, path = self._place(field, ext)
        handle = store.fs.open(store.full_path(path), mode)  # local folders are made on demand
        if "b" in mode and mode[0] in "wx" and "+" not in mode:
            handle = _Checksummed(handle)
        self._staged[field]["file"] = handle
        self._handles.append(handle)
        return handle

    @property
    def fs(self):
        """The default store's fsspec filesystem (for advanced use; prefer store() and open())."""
        from djframe.storage.stores import get_store
        return get_store(None, config=self._table.connection.config).fs

    def _place(self, field: str, ext: str):
        """(store, path) of a staged field; the path is fixed on first use."""
        staged = self._staged.get(field)
        if staged is not None:
            if (ext or None) != staged["ext"]:
                raise DataJointError(f"staged_insert1 into {self._table.full_table_name}: field {field!r} was "
                                     f"staged with extension {staged['ext']!r}, now {ext!r}. Use one extension "
                                     "per field.")
            return staged["store"], staged["path"]
        store = self._object_store(field)
        from djframe.storage.stores import object_path
        path = object_path(self._table.database, self._table.table_name, field, self._key(field), ext or None,
                           store.spec)
        self._staged[field] = {"store": store, "path": path, "ext": ext or None, "file": None}
        self._log.record(store, path)
        return store, path

    def _object_store(self, field: str):
        from djframe.storage.stores import get_store
        table = self._table
        attr = table.heading.get(field) if field in table.heading.names else None
        if attr is None:
            raise DataJointError(f"staged_insert1 into {table.full_table_name}: {field!r} is not an attribute "
                                 f"of the table ({', '.join(table.heading.names)}).")
        if attr.type.kind != "codec" or attr.type.codec != "object":
            raise DataJointError(f"staged_insert1 into {table.full_table_name}: {field!r} is "
                                 f"{_type_text(attr)}, not an <object@store> attribute; only those are written "
                                 "in place. Set other attributes in staged.rec.")
        return get_store(attr.type.store or None, config=self._table.connection.config)

    def _key(self, field: str) -> dict:
        """The primary key from ``rec``, converted as an insert converts it (so paths agree)."""
        table = self._table
        missing = [k for k in table.primary_key if k not in self.rec]
        if missing:
            raise DataJointError(f"Primary key not set: staged.rec lacks the primary key {missing} of "
                                 f"{table.full_table_name}; set it before calling store({field!r}) or "
                                 f"open({field!r}) in staged_insert1 (the object's path is built from it).")
        from djframe.write.encode import row_keys
        from djframe.write.conform import rows_to_arrow
        name = table.full_table_name
        rows = rows_to_arrow([{k: self.rec[k] for k in table.primary_key}], table.heading, name)
        return row_keys(rows, table.heading, table.connection.backend, f"{name}.{field}")[0]

    # ----- the end of the block ------------------------------------------------------------------
    def _finish(self) -> None:
        from djframe.codecs import undo_on_rollback
        row = dict(self.rec)
        for field, staged in self._staged.items():
            row[field] = self._metadata(field, staged)
        self._table.insert1(row)
        undo_on_rollback(self._table.connection, self._log)

    def _metadata(self, field, staged) -> dict:
        """The column JSON of what was written, as an <object@> insert of the same content gives it."""
        from djframe.codecs.object import MANIFEST, folder_records
        store, path, handle = staged["store"], staged["path"], staged["file"]
        self._close_all()
        found = store.list_files(path)
        if not found:
            raise DataJointError(f"staged_insert1 into {self._table.full_table_name}: nothing was written to "
                                 f"{field!r}. Write to staged.store({field!r}) or staged.open({field!r}), or do "
                                 "not stage the field.")
        is_dir = path not in found
        meta = {"path": path, "store": store.name, "size": sum(found.values()), "ext": staged["ext"],
                "is_dir": is_dir, "item_count": len(found) if is_dir else None,
                "timestamp": dt.datetime.now(dt.timezone.utc).isoformat()}
        if not is_dir:
            if isinstance(handle, _Checksummed) and handle.crc is not None and handle.size == meta["size"]:
                meta["crc32"] = f"{handle.crc:08x}"
            return meta
        cut = len(path) + 1
        records = [{"path": p[cut:], "size": n} for p, n in sorted(found.items())]
        sidecar = folder_records(meta, records)
        if sidecar is not None:
            store.put(path + MANIFEST, sidecar, atomic=False)
            self._log.record(store, path + MANIFEST)
        return meta

    def _close_all(self, quiet=False) -> None:
        for handle in self._handles:
            if not handle.closed:
                if quiet:
                    with contextlib.suppress(Exception):
                        handle.close()
                else:
                    handle.close()

    def _discard(self) -> None:
        """Close what is open and remove every staged object."""
        self._close_all(quiet=True)
        self._log.rollback()


def _type_text(attr) -> str:
    t = attr.type
    if t.kind == "codec":
        return f"<{t.codec}{'@' + t.store if t.store is not None else ''}>"
    return f"of type {attr.sql_type or t.kind}"


class _Checksummed:
    """A writable file that keeps the CRC-32 and size of what is written in order."""

    def __init__(self, handle):
        self._handle = handle
        self.crc, self.size = 0, 0

    def write(self, data):
        n = self._handle.write(data)
        if self.crc is not None:
            view = memoryview(data).cast("B")
            self.crc = zlib.crc32(view[:n if n is not None else len(view)], self.crc)
            self.size += n if n is not None else view.nbytes
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def seek(self, *args):
        position = self._handle.seek(*args)
        if position != self.size:
            self.crc = None  # out-of-order writes: the checksum cannot follow
        return position

    def truncate(self, *args):
        self.crc = None
        return self._handle.truncate(*args)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()
        return False

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __iter__(self):
        return iter(self._handle)

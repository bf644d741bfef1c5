"""Garbage collection of stored objects that no row references any more.

Deleting rows never deletes stored objects: a hash-addressed object may be
shared by many rows, and a delete may yet be rolled back. Instead the collector
compares what a store holds in the sections of the given schemas
(``<hash_prefix>/<schema>/`` and ``<schema_prefix>/[partitions/]<schema>/``)
with the paths that the rows of those schemas reference, and removes the
difference. ``collect(dry_run=True)`` (the default) only reports it.
"""

from __future__ import annotations

import logging
import re

from djframe.errors import DataJointError
from djframe.storage.stores import get_store

logger = logging.getLogger("djframe")


class GarbageCollector:
    """``GarbageCollector(*schemas, store=None).collect(dry_run=True)`` for one store."""

    def __init__(self, *schemas, store: str | None = None, config=None):
        if not schemas:
            raise DataJointError("At least one schema must be provided: GarbageCollector(schema, ..., store=name) "
                                 "collects the objects of the given schemas only.")
        self.schemas = schemas
        self.config = config if config is not None else schemas[0].connection.config
        self.store = get_store(store, config=self.config)
        self._hash_prefix = str(self.store.spec.get("hash_prefix") or "").strip("/")
        self._schema_prefix = str(self.store.spec.get("schema_prefix") or "").strip("/")

    # ----- what rows reference -------------------------------------------------------------------
    def references(self) -> set[str]:
        """Paths in this store referenced by any row of the schemas (both sections)."""
        hashed, addressed = self._all_references()
        return hashed | addressed

    def hash_references(self) -> set[str]:
        return self._all_references()[0]

    def schema_references(self) -> set[str]:
        return self._all_references()[1]

    def _all_references(self) -> tuple[set, set]:
        hashed: set[str] = set()
        addressed: set[str] = set()
        for schema in self.schemas:
            for section, paths in self._schema_references(schema):
                (hashed if section == "hash" else addressed).update(paths)
        return hashed, addressed

    def _schema_references(self, schema):
        """(section, paths) per store column of one schema; <filepath@> files are the user's, not ours."""
        from djframe.codecs import resolve_chain
        from djframe.codecs.hash import HashCodec
        from djframe.codecs.object import SchemaCodec
        from djframe.query.fetch import fetch_table
        from djframe.tables.table import FreeTable
        connection, name = schema.connection, schema.database
        for table in connection.backend.list_tables(name):
            spec = connection.table_spec(name, table)
            for attr in spec.attributes:
                if attr.type.kind != "codec":
                    continue
                chain, dtype = resolve_chain(attr.type.codec, attr.type.store)
                codec = chain[-1][0]
                section = "hash" if isinstance(codec, HashCodec) else "schema" if isinstance(codec, SchemaCodec) \
                    else None
                if dtype != "json" or section is None:
                    continue
                column = fetch_table(FreeTable(connection, name, table), names=[attr.name]).column(0)
                paths = {path for stored in column.to_pylist() if stored is not None
                         for path, store in codec.referenced_paths(stored) if store in (None, "", self.store.name)}
                yield section, paths

    # ----- what the store holds ------------------------------------------------------------------
    def stored(self, schema_name: str) -> tuple[dict, dict]:
        """({hash path: size}, {schema-addressed path: size}) of one schema's sections.

        Only content-hash names count in the hash section: a ``*.part`` file is an
        object another insert is writing right now."""
        hashed = {p: n for p, n in self.store.list_files("/".join(x for x in (self._hash_prefix, schema_name) if x))
                  .items() if _HASH_NAME.match(p.rsplit("/", 1)[-1])}
        partitioned = bool(self.store.spec.get("partition_pattern"))
        base = self._schema_prefix if partitioned else "/".join(p for p in (self._schema_prefix, schema_name) if p)
        addressed = {p: n for p, n in self.store.list_files(base).items()
                     if _schema_of(p, self._schema_prefix) == schema_name}
        return hashed, addressed

    # ----- collection --------------------------------------------------------------------------
    def collect(self, dry_run: bool = True, verbose: bool = False) -> dict:
        """Find (and unless ``dry_run`` delete) every unreferenced object; returns a report with the
        reference client's keys, listing the paths that are (or would be) removed."""
        hash_refs, schema_refs = self._all_references()
        hashed, addressed = {}, {}
        for schema in self.schemas:
            h, a = self.stored(schema.database)
            hashed.update(h)
            addressed.update(a)
        orphan_hash = sorted(p for p in hashed if p not in hash_refs)
        orphan_schema = sorted(p for p in addressed if not _covered(p, schema_refs))
        report = {
            "store": self.store.name, "dry_run": dry_run,
            "hash_paths_referenced": len(hash_refs), "hash_paths_stored": len(hashed),
            "hash_paths_orphaned": len(orphan_hash), "hash_paths_orphaned_bytes": sum(hashed[p] for p in orphan_hash),
            "orphaned_hash_paths": orphan_hash,
            "schema_paths_referenced": len(schema_refs), "schema_paths_stored": len(addressed),
            "schema_paths_orphaned": len(orphan_schema),
            "schema_paths_orphaned_bytes": sum(addressed[p] for p in orphan_schema),
            "orphaned_schema_paths": orphan_schema,
            "hash_paths_deleted": 0, "schema_paths_deleted": 0, "deleted": 0, "bytes_freed": 0, "errors": 0,
            "scan_errors": [],
        }
        if verbose:
            for p in orphan_hash + orphan_schema:
                logger.info("%s unreferenced object %s", "Would delete" if dry_run else "Deleting", p)
        if not dry_run:
            report["hash_paths_deleted"] = self._delete(orphan_hash, hashed, report)
            report["schema_paths_deleted"] = self._delete(orphan_schema, addressed, report)
            self.store.prune(orphan_hash + orphan_schema)
        return report

    def _delete(self, paths: list, sizes: dict, report: dict) -> int:
        deleted = 0
        for path in paths:
            try:
                self.store.remove(path)
                deleted += 1
                report["deleted"] += 1
                report["bytes_freed"] += sizes.get(path, 0)
            except Exception as e:  # keep going; report how many failed
                report["errors"] += 1
                logger.warning("Could not delete %s from store %s: %s", path, self.store.name, e)
        return deleted


_HASH_NAME = re.compile(r"^[a-z2-7]{26}$")


def _schema_of(path: str, schema_prefix: str) -> str | None:
    """The schema segment of a schema-addressed path (after the prefix and partition parts)."""
    parts = path.split("/")
    if schema_prefix:
        depth = len(schema_prefix.split("/"))
        if parts[:depth] != schema_prefix.split("/"):
            return None
        parts = parts[depth:]
    for part in parts[:-1]:
        if "=" not in part:
            return part
    return None


def _covered(path: str, referenced: set) -> bool:
    """Referenced itself, inside a referenced folder, or the manifest of a referenced folder."""
    if path in referenced:
        return True
    if path.endswith(".manifest.json") and path[: -len(".manifest.json")] in referenced:
        return True
    parts = path.split("/")
    return any("/".join(parts[:i]) in referenced for i in range(1, len(parts)))

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
import os

from .errors import DataJointError
from .storage import get_store

logger = logging.getLogger("djframe")


class GarbageCollector:
    """``GarbageCollector(*schemas, store=None).collect(dry_run=True)`` for one store."""

    def __init__(self, *schemas, store: str | None = None, config=None):
        if not schemas:
            raise DataJointError("GarbageCollector needs at least one schema.")
        self.schemas = schemas
        self.config = config
        self.store = get_store(store, config=config)
        self._hash_prefix = str(self.store.spec.get("hash_prefix") or "").strip("/")
        self._schema_prefix = str(self.store.spec.get("schema_prefix") or "").strip("/")

    # ----- what rows reference -------------------------------------------------------------------
    def references(self) -> set[str]:
        """Paths in this store referenced by any row of the schemas."""
        found: set[str] = set()
        for schema in self.schemas:
            found |= self._schema_references(schema)
        return found

    def _schema_references(self, schema) -> set[str]:
        from .codecs import resolve_chain
        from .query.fetch import fetch_table
        from .table import FreeTable
        connection, name = schema.connection, schema.database
        found: set[str] = set()
        for table in connection.backend.list_tables(name):
            spec = connection.table_spec(name, table)
            for attr in spec.attributes:
                if attr.type.kind != "codec":
                    continue
                chain, dtype = resolve_chain(attr.type.codec, attr.type.store)
                if dtype != "json":
                    continue
                codec = chain[-1][0]
                column = fetch_table(FreeTable(connection, name, table), names=[attr.name]).column(0)
                for stored in column.to_pylist():
                    if stored is None:
                        continue
                    for path, store in codec.referenced_paths(stored):
                        if store in (None, "", self.store.name):
                            found.add(path)
        return found

    # ----- what the store holds ------------------------------------------------------------------
    def stored(self, schema_name: str) -> tuple[dict, dict]:
        """({hash path: size}, {schema-addressed path: size}) of one schema's sections."""
        hashed = self.store.list_files("/".join(p for p in (self._hash_prefix, schema_name) if p))
        partitioned = bool(self.store.spec.get("partition_pattern"))
        base = self._schema_prefix if partitioned else "/".join(p for p in (self._schema_prefix, schema_name) if p)
        addressed = {p: n for p, n in self.store.list_files(base).items()
                     if _schema_of(p, self._schema_prefix) == schema_name}
        return hashed, addressed

    # ----- collection --------------------------------------------------------------------------
    def collect(self, dry_run: bool = True, verbose: bool = False) -> dict:
        """Find (and unless ``dry_run`` delete) every unreferenced object; returns a report."""
        referenced = self.references()
        hashed, addressed = {}, {}
        for schema in self.schemas:
            h, a = self.stored(schema.database)
            hashed.update(h)
            addressed.update(a)
        orphan_hash = sorted(p for p in hashed if not _covered(p, referenced))
        orphan_schema = sorted(p for p in addressed if not _covered(p, referenced))
        report = {
            "store": self.store.name, "dry_run": dry_run,
            "hash_paths_referenced": sum(1 for p in hashed if p in referenced),
            "hash_paths_stored": len(hashed), "hash_paths_orphaned": len(orphan_hash),
            "hash_paths_orphaned_bytes": sum(hashed[p] for p in orphan_hash),
            "orphaned_hash_paths": orphan_hash,
            "schema_paths_referenced": len(addressed) - len(orphan_schema),
            "schema_paths_stored": len(addressed), "schema_paths_orphaned": len(orphan_schema),
            "schema_paths_orphaned_bytes": sum(addressed[p] for p in orphan_schema),
            "orphaned_schema_paths": orphan_schema,
            "deleted": 0, "bytes_freed": 0, "errors": 0,
        }
        if verbose:
            for p in orphan_hash + orphan_schema:
                logger.info("%s unreferenced object %s", "Would delete" if dry_run else "Deleting", p)
        if not dry_run:
            self._delete(orphan_hash + orphan_schema, {**hashed, **addressed}, report)
        return report

    def _delete(self, paths: list, sizes: dict, report: dict) -> None:
        for path in paths:
            try:
                self.store.remove(path)
                report["deleted"] += 1
                report["bytes_freed"] += sizes.get(path, 0)
            except Exception as e:  # keep going; report how many failed
                report["errors"] += 1
                logger.warning("Could not delete %s from store %s: %s", path, self.store.name, e)
        if self.store.protocol == "file":
            _prune_empty_dirs(self.store, paths)


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


def _prune_empty_dirs(store, paths) -> None:
    root = store.full_path("").rstrip("/")
    for path in paths:
        folder = os.path.dirname(store.full_path(path))
        while folder.startswith(root) and folder != root:
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)

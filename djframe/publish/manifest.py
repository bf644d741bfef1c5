"""The manifest of an export folder: reading it, and checking every file against its checksums.

Layout of an export folder (local path or fsspec URL)::

    manifest.json                       format version, tables, objects, checksums
    tables/<table>.parquet              one file per table of the first source's schema
    tables/<schema>/<table>.parquet     tables of other schemas (ancestors)
    objects/<store>/<path>              store objects the exported rows reference

The manifest is written last (its presence marks a finished export) and is never
evaluated as Python.
"""

from __future__ import annotations

import hashlib
import json

from djframe.errors import DataJointError
from djframe.publish.objects import join, object_file
from djframe.query.frames import FORMAT, FORMAT_VERSION, filesystem

MANIFEST = "manifest.json"


def read_manifest(source) -> dict:
    """The manifest of an export folder, checked for format and version."""
    fs, root = filesystem(source)
    try:
        manifest = json.loads(fs.cat_file(join(root, MANIFEST)))
    except FileNotFoundError:
        raise DataJointError(f"{source} has no {MANIFEST}: it is not a djframe export, or the export did not "
                             "finish. Export again.") from None
    except ValueError as e:
        raise DataJointError(f"{join(root, MANIFEST)} is not valid JSON ({e}); the export is damaged.") from None
    if manifest.get("format") != FORMAT:
        raise DataJointError(f"{source} is not a djframe export (format {manifest.get('format')!r}).")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise DataJointError(f"{source} has export format version {manifest['format_version']}, newer than this "
                             f"djframe reads ({FORMAT_VERSION}). Upgrade djframe.")
    return manifest


def verify_export(source, *, manifest=None) -> None:
    """Check every table file and object of an export against the manifest's SHA-256 sums."""
    fs, root = filesystem(source)
    manifest = manifest or read_manifest(source)
    files = [(e["file"], e["sha256"], e["bytes"]) for e in manifest["tables"]]
    files += [(object_file(o), o["sha256"], o["size"]) for o in manifest.get("objects", ())]
    for rel, digest, size in files:
        full = join(root, rel)
        try:
            found, length = file_digest(fs, full)
        except FileNotFoundError:
            raise DataJointError(f"Export file {full} is missing; the export is incomplete. Export again or copy "
                                 "the file back.") from None
        if found != digest or length != size:
            raise DataJointError(f"Export file {full} fails its checksum (SHA-256 {found}, {length} bytes; the "
                                 f"manifest records {digest}, {size} bytes). It was modified or damaged after the "
                                 "export; nothing was restored. Restore from an intact copy.")


def file_digest(fs, full) -> tuple[str, int]:
    """(SHA-256 hex digest, size in bytes) of one file, read in 4 MiB chunks."""
    h, size = hashlib.sha256(), 0
    with fs.open(full, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def progress_bar(items, what, enabled):
    """A tqdm bar over the tables an export or restore works through (None: when on a terminal)."""
    from tqdm.auto import tqdm
    return tqdm(items, desc=what, unit="table", disable=None if enabled is None else not enabled, leave=False)

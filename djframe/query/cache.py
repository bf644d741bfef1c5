"""Query caching: SELECT results kept on disk under a key, for reproducible and offline analysis.

``conn.set_query_cache("v1")`` makes every query of that connection answer from
``config["query_cache"]/<hash of key and SQL>`` when it was asked before under
the same key, and otherwise from the database, saving the answer (Arrow IPC for
results, JSON for counts). While a key is set the connection writes nothing
(inserts, deletes, declarations are refused), since the cache would hide them.
``set_query_cache(None)`` goes back to the database; ``purge_query_cache()``
removes the saved answers.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa

from djframe.errors import DataJointError

PREFIX = "djframe-query-"


class QueryCache:
    """The saved answers of one connection under one key."""

    def __init__(self, folder, key: str, backend_name: str):
        self.folder, self.key, self.backend_name = Path(folder).expanduser(), str(key), backend_name
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, sql: str, kind: str) -> Path:
        digest = hashlib.sha256(f"{self.backend_name}\n{self.key}\n{sql}".encode()).hexdigest()[:32]
        return self.folder / f"{PREFIX}{digest}.{kind}"

    def table(self, sql: str) -> pa.Table | None:
        path = self._path(sql, "arrow")
        if not path.exists():
            return None
        with pa.ipc.open_file(path) as reader:
            return reader.read_all()

    def save_table(self, sql: str, table: pa.Table) -> None:
        path = self._path(sql, "arrow")
        part = path.with_suffix(f".{os.getpid()}.part")
        with pa.ipc.new_file(part, table.schema) as writer:
            writer.write_table(table)
        os.replace(part, path)  # readers never see half a file

    def rows(self, sql: str, fetch) -> list:
        """Small answers (counts, existence): JSON, fetched once."""
        path = self._path(sql, "json")
        if path.exists():
            return [tuple(r) for r in json.loads(path.read_text())]
        rows = [tuple(r) for r in fetch()]
        part = path.with_suffix(f".{os.getpid()}.part")
        part.write_text(json.dumps(rows, default=str))
        os.replace(part, path)
        return rows


def open_cache(connection, key) -> QueryCache | None:
    if key is None:
        return None
    folder = connection.config["query_cache"]
    if not folder:
        raise DataJointError("Query caching needs a folder for the saved results: set dj.config['query_cache'] "
                             "(or DJ_QUERY_CACHE) to a directory first.")
    return QueryCache(folder, key, connection.backend.name)


def purge(connection) -> int:
    """Remove every saved answer in the configured folder; the number of files removed."""
    folder = connection.config["query_cache"]
    if not folder or not Path(folder).expanduser().is_dir():
        return 0
    removed = 0
    for path in Path(folder).expanduser().glob(PREFIX + "*"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed

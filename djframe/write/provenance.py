"""Row provenance: the hidden ``_prov`` JSON of Manual tables (storage doc §10.3).

Tables declared while ``config["provenance.capture"]`` is on get a hidden
``_prov`` json column; while capture is on, every row inserted into such a table
records when it arrived, who sent it (user, host, database), the configured
``provenance.source``, and, when it was inserted inside a ``make()``, which
computation and key produced it. The layout is the reference client's, so either
client reads what the other wrote.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa

from djframe.define.declare import PROVENANCE

COLUMN = PROVENANCE.name


def has_provenance(heading) -> bool:
    """Whether the heading has the hidden ``_prov`` column (its table was declared capturing)."""
    return any(a.name == COLUMN and a.hidden for a in heading.all_attributes)


def captures(heading, connection) -> bool:
    """Whether inserts into a table with this heading record provenance now."""
    return bool(connection.config["provenance.capture"]) and has_provenance(heading)


def agent(connection) -> dict:
    """Who inserts: the server user, host and database (an embedded database: its file)."""
    settings = connection.settings
    if connection.backend.name == "sqlite":
        return {"database_name": settings.get("path")} if settings.get("path") else {}
    database = settings.get("database_name") or ("postgres" if connection.backend.name == "postgresql" else None)
    found = {"host": settings.get("host"), "user": settings.get("user"), "database_name": database}
    return {k: v for k, v in found.items() if v}


def record(connection) -> str | None:
    """The JSON text for rows inserted now (None when it would hold only the time)."""
    config = connection.config
    entry = {"time": dt.datetime.now(dt.timezone.utc).isoformat()}
    who = agent(connection)
    if who:
        entry["agent"] = who
    if config["provenance.source"]:
        entry["source"] = config["provenance.source"]
    making = getattr(connection, "_making", None)
    if making:
        table, key, version = making
        entry["context"] = {"key": key, "table": table, **({"version": version} if version else {})}
    return json.dumps(entry, default=str) if len(entry) > 1 else None


def with_provenance(data: pa.Table, connection) -> pa.Table:
    """``data`` with the ``_prov`` column filled for every row (unless the rows bring their own)."""
    if COLUMN in data.column_names:
        return data
    text = record(connection)
    return data.append_column(COLUMN, pa.array([text] * data.num_rows, pa.large_string()))

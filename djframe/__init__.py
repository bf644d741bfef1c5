"""djframe: a dataframe-first implementation of DataJoint 2.x.

`import djframe as dj` runs DataJoint 2.x pipeline code; results come back as
Polars/Arrow frames. With no configuration, data lives in a SQLite file.
"""

from .codecs import Codec, NpyRef, ObjectRef, SchemaCodec, SparkAdapter, get_codec, list_codecs
from .codecs.blob import MatCell, MatStruct
from .connection import Connection, Instance, conn
from .diagram import Diagram
from .errors import DataJointError, ThreadSafetyError
from .parquet import export, read_manifest, restore, verify_export, write_parquet
from . import blob, cli, deploy, errors, gc, migrate
from .query.conditions import AndList, Not
from .query.expression import QueryExpression, Top, U
from .jobs import Job
from .populate import AutoPopulate
from .schema import Schema, VirtualModule, list_schemas, virtual_schema
from .stale import plan
from .settings import GlobalConfig as _GlobalConfig

config = _GlobalConfig()  # refused under DJ_THREAD_SAFE; settings.config is the object behind it
from .storage import StorageAdapter, get_storage_adapter
from .table import FreeTable, Table, ValidationResult
from .tiers import Compute, Computed, Entry, Imported, Ingest, Lookup, Manual, Part

import logging as _logging

logger = _logging.getLogger("djframe")
if not logger.handlers:  # the first line a user sees says where the data lives
    _handler = _logging.StreamHandler()
    _handler.setFormatter(_logging.Formatter("[%(asctime)s][%(levelname)s]: %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(_handler)
    logger.propagate = False

try:
    from importlib.metadata import version as _version
    __version__ = _version("djframe")
except Exception:  # running from a source tree
    __version__ = "0.1.0"

__all__ = [
    "AndList", "AutoPopulate", "Codec", "Compute", "Computed", "Connection", "DataJointError", "Diagram", "Entry",
    "FreeTable", "Imported", "Instance", "Ingest", "Job", "Lookup", "Manual", "MatCell", "MatStruct", "Not", "NpyRef", "ObjectRef",
    "Part", "SchemaCodec", "SparkAdapter", "StorageAdapter",
    "QueryExpression", "Schema", "Table", "ThreadSafetyError", "Top", "U", "ValidationResult", "VirtualModule",
    "blob", "cli", "config", "conn", "deploy", "errors", "export", "gc", "get_codec", "migrate", "get_storage_adapter", "plan", "list_codecs", "list_schemas", "logger", "read_manifest", "restore", "verify_export", "virtual_schema", "write_parquet",
]

"""djframe: a dataframe-first implementation of DataJoint 2.x.

`import djframe as dj` runs DataJoint 2.x pipeline code; results come back as
Polars/Arrow frames. With no configuration, data lives in a SQLite file.
"""

from djframe import compat as _compat

_compat.install()  # djframe.heading, djframe.table, ... (the paths user code imports) keep working

from djframe.codecs import Codec, NpyRef, ObjectRef, SchemaCodec, SparkAdapter, get_codec, list_codecs
from djframe.codecs.blob import MatCell, MatStruct
from djframe.connection import Connection, conn
from djframe.tables.instance import Instance
from djframe.tables.diagram import Diagram
from djframe.errors import DataJointError, ThreadSafetyError
from djframe.publish.export import export, read_manifest, restore, verify_export, write_parquet
from djframe.codecs import blob
from djframe.admin import cli
from djframe.admin import deploy
from djframe import errors
from djframe.admin import gc
from djframe.admin import migrate
from djframe.query.conditions import AndList, Not
from djframe.query.expression import QueryExpression, Top, U
from djframe.tables.jobs import Job
from djframe.tables.populate import AutoPopulate
from djframe.tables.schema import Schema, VirtualModule, list_schemas, virtual_schema
from djframe.tables.stale import plan
from djframe.settings import GlobalConfig as _GlobalConfig

config = _GlobalConfig()  # refused under DJ_THREAD_SAFE; settings.config is the object behind it
from djframe.storage.stores import StorageAdapter, get_storage_adapter
from djframe.tables.table import FreeTable, Table, ValidationResult
from djframe.tables.tiers import Compute, Computed, Entry, Imported, Ingest, Lookup, Manual, Part

import logging as _logging


def __getattr__(name):
    """``dj.diagram``, ``dj.schemas`` ...: the reference's module paths as attributes, imported on first use."""
    if name in _compat.MODULE_PATHS:
        import importlib
        return importlib.import_module(f"djframe.{name}")
    raise AttributeError(f"module 'djframe' has no attribute {name!r}")


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

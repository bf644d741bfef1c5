"""Object stores: fsspec file systems under store settings, verified reads and writes, and the
hash-addressed (``<hash@>``) and schema-addressed (``<object@>``) paths of the storage layout.

``djframe.storage`` is also the reference's ``datajoint.storage`` path, so its public helpers are here.
"""

from djframe.storage.stores import (Store, StorageAdapter, WriteLog, build_object_path, checksum, content_hash,
                                    encode_pk_value, generate_token, get_storage_adapter, get_store, hash_path,
                                    object_path, object_paths, resolve_store_name, verify)

__all__ = ["Store", "StorageAdapter", "WriteLog", "build_object_path", "checksum", "content_hash", "encode_pk_value",
           "generate_token", "get_storage_adapter", "get_store", "hash_path", "object_path", "object_paths",
           "resolve_store_name", "verify"]

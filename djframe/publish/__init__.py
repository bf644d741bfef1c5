"""Parquet publishing, one module per stage: export a schema (export), restore it elsewhere (restore),
read and verify the manifest (manifest), copy the store objects out and in (objects)."""

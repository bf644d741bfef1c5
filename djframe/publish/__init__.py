"""Parquet publishing: export a schema, restore it elsewhere, verify a manifest."""

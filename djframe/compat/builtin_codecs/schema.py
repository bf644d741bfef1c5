"""``datajoint.builtin_codecs.schema``: re-export of `djframe.codecs.object`."""

from djframe.codecs.object import SchemaCodec

__all__ = ["SchemaCodec"]

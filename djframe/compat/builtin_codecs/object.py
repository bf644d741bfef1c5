"""``datajoint.builtin_codecs.object``: re-export of `djframe.codecs.object`."""

from djframe.codecs.object import ObjectCodec, SchemaCodec

__all__ = ["ObjectCodec", "SchemaCodec"]

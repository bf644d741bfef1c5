"""``datajoint.builtin_codecs.filepath``: re-export of `djframe.codecs.filepath`."""

from djframe.codecs.filepath import FilepathCodec

__all__ = ["FilepathCodec"]

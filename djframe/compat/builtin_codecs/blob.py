"""``datajoint.builtin_codecs.blob``: re-export of `djframe.codecs.blob`."""

from djframe.codecs.blob import BlobCodec

__all__ = ["BlobCodec"]

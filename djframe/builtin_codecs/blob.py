"""``datajoint.builtin_codecs.blob``: re-export of `djframe.codecs.blob`."""

from ..codecs.blob import BlobCodec

__all__ = ["BlobCodec"]

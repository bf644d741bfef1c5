"""``datajoint.builtin_codecs.attach``: re-export of `djframe.codecs.attach`."""

from djframe.codecs.attach import AttachCodec

__all__ = ["AttachCodec"]

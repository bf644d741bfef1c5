"""``datajoint.builtin_codecs.attach``: re-export of `djframe.codecs.attach`."""

from ..codecs.attach import AttachCodec

__all__ = ["AttachCodec"]

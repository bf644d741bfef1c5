"""``datajoint.builtin_codecs.hash``: re-export of `djframe.codecs.hash`."""

from djframe.codecs.hash import HashCodec

__all__ = ["HashCodec"]

"""``datajoint.builtin_codecs.hash``: re-export of `djframe.codecs.hash`."""

from ..codecs.hash import HashCodec

__all__ = ["HashCodec"]

"""``datajoint.builtin_codecs.npy``: re-export of `djframe.codecs.npy`."""

from djframe.codecs.npy import NpyCodec, NpyRef

__all__ = ["NpyCodec", "NpyRef"]

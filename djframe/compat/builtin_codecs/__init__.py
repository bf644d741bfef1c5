"""``datajoint.builtin_codecs``: the built-in codec classes, under the reference's import path.

Re-exports only; the codecs live in `djframe.codecs` (one module per codec).
"""

from djframe.codecs.attach import AttachCodec
from djframe.codecs.blob import BlobCodec
from djframe.codecs.filepath import FilepathCodec
from djframe.codecs.hash import HashCodec
from djframe.codecs.npy import NpyCodec, NpyRef
from djframe.codecs.object import ObjectCodec, SchemaCodec

__all__ = ["AttachCodec", "BlobCodec", "FilepathCodec", "HashCodec", "NpyCodec", "NpyRef", "ObjectCodec",
           "SchemaCodec"]

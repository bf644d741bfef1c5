"""``datajoint.builtin_codecs``: the built-in codec classes, under the reference's import path.

Re-exports only; the codecs live in `djframe.codecs` (one module per codec).
"""

from ..codecs.attach import AttachCodec
from ..codecs.blob import BlobCodec
from ..codecs.filepath import FilepathCodec
from ..codecs.hash import HashCodec
from ..codecs.npy import NpyCodec, NpyRef
from ..codecs.object import ObjectCodec, SchemaCodec

__all__ = ["AttachCodec", "BlobCodec", "FilepathCodec", "HashCodec", "NpyCodec", "NpyRef", "ObjectCodec",
           "SchemaCodec"]

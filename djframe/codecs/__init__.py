"""The codec system: the registry of ``<name>`` / ``<name@store>`` types (`registry`), whole columns
through their chains (`pipeline`), and one module per built-in codec. The write stage drives the
encoding (`djframe.write.encode`); the read path decodes with `decode_many`.
"""

from djframe.codecs.registry import (Codec, SparkAdapter, codecs_by_name, get_codec, list_codecs,  # noqa: F401
                                     parse_codec_type, resolve_chain, resolve_dtype)
from djframe.codecs.pipeline import (ColumnContext, arrow_values, binary_array, current_session,  # noqa: F401
                                     decode, decode_many, store_writes, undo_on_rollback, validating)

_codec_registry = codecs_by_name  # the reference's name (tools clear test codecs from it)

# built-in codecs register on import
from djframe.codecs import hash as _hash  # noqa: E402,F401
from djframe.codecs.blob import BlobCodec  # noqa: E402,F401
from djframe.codecs.attach import AttachCodec  # noqa: E402,F401
from djframe.codecs.filepath import FilepathCodec  # noqa: E402,F401
from djframe.codecs.object import ObjectCodec, ObjectRef, SchemaCodec  # noqa: E402,F401
from djframe.codecs.npy import NpyCodec, NpyRef  # noqa: E402,F401

"""DataJoint blob serialization (``mYm`` / ``dj0``), byte-compatible with the reference.

Layout (datajoint-storage.md §12): an optional ``ZL123\\0`` + u64 length + zlib
envelope around a 4-byte protocol header (``mYm\\0`` or ``dj0\\0``) followed by
exactly one *item* (1-byte type code + payload). Everything is little-endian.
The writer starts with ``mYm`` and switches to ``dj0`` as soon as a feature
outside the MATLAB-compatible subset appears anywhere in the object.
"""
from __future__ import annotations

import collections.abc as cabc
import contextlib
import contextvars
import datetime as dt
import functools
import math
import os
import struct
import uuid
import zlib
from decimal import Decimal

import numpy as np

from djframe.errors import DataJointError
from djframe.storage.stores import chunked_map

try:  # zlib-ng inflates the same streams faster; compression stays with zlib (byte-identical output)
    from zlib_ng import zlib_ng as _INFLATE
except ImportError:  # pragma: no cover - optional speed-up
    _INFLATE = zlib

__all__ = [
    "MatCell", "MatStruct", "pack", "unpack", "pack_many", "unpack_many",
    "stack_if_uniform", "squeezing", "honours_squeeze", "use_32bit_dims",
]

use_32bit_dims = False
"""Read dimensions and lengths as 32-bit words, as very old MATLAB mYm blobs wrote them
(``dj.blob.use_32bit_dims = True``); writing always uses 64 bits."""

_SQUEEZE: contextvars.ContextVar = contextvars.ContextVar("djframe_blob_squeeze", default=False)


@contextlib.contextmanager
def squeezing(squeeze: bool):
    """Within the block, fetched ``<blob>`` values are unpacked with ``squeeze`` (fetch(squeeze=True))."""
    token = _SQUEEZE.set(bool(squeeze))
    try:
        yield
    finally:
        _SQUEEZE.reset(token)


def honours_squeeze(method):
    """Decorate a fetch method taking ``squeeze=``: blobs it decodes are unpacked with that setting."""
    @functools.wraps(method)
    def fetch(self, *args, squeeze=False, **kwargs):
        if not squeeze:  # leaves an enclosing fetch(squeeze=True) in force
            return method(self, *args, **kwargs)
        with squeezing(True):
            return method(self, *args, squeeze=True, **kwargs)
    return fetch

ZL_PREFIX = b"ZL123\0"
MYM = b"mYm\0"
DJ0 = b"dj0\0"
COMPRESS_THRESHOLD = 1000  # payloads strictly larger than this are tried compressed
PARALLEL_MIN_BYTES = 1 << 20  # below this a thread pool costs more than it saves
PARALLEL_MIN_COUNT = 4

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TYPE_CPLX = struct.Struct("<II")
_F64 = struct.Struct("<d")
_C128 = struct.Struct("<dd")
_DATE_TIME = struct.Struct("<iq")

# --- MATLAB class ids used in `A` payloads ---------------------------------
_CHAR_ID, _OBJECT_ID, _DATETIME_BASE = 4, 5, 65536
_DT_UNITS = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as")
_NUMERIC_IDS = {  # (dtype.kind, itemsize) -> class id
    ("b", 1): 3, ("f", 8): 6, ("f", 4): 7, ("i", 1): 8, ("u", 1): 9,
    ("i", 2): 10, ("u", 2): 11, ("i", 4): 12, ("u", 4): 13, ("i", 8): 14, ("u", 8): 15,
}
ID_DTYPES = {i: np.dtype(f"{'?' if k == 'b' else k + str(s)}").newbyteorder("<")
              for (k, s), i in _NUMERIC_IDS.items()}
ID_DTYPES.update({_DATETIME_BASE + i: np.dtype(f"<M8[{u}]") for i, u in enumerate(_DT_UNITS)})
_COMPLEX_OF = {np.dtype("<f8"): np.dtype("<c16"), np.dtype("<f4"): np.dtype("<c8")}


class MatCell(np.ndarray):
    """A MATLAB cell array: an object-dtype ndarray that packs as ``C`` (not ``A``).

    Build one with ``np.empty(shape, dtype=object).view(MatCell)``.
    """


class MatStruct(np.recarray):
    """A MATLAB struct array: a record array (object fields) that packs as ``S``.

    Build one from a structured array with ``arr.view(MatStruct)``.
    """


def _invalid(reason: str) -> DataJointError:
    return DataJointError(f"Not a valid DataJoint blob: {reason}")


# =============================================================================
# Writing
# =============================================================================
class _Packer:
    """Serializes one object into a list of byte chunks, tracking the protocol."""

    __slots__ = ("dj0",)

    def __init__(self):
        self.dj0 = False

    def item(self, obj, out: list) -> None:
        """Append the item for ``obj``; dispatch order follows the reference writer."""
        if isinstance(obj, np.ndarray):
            if isinstance(obj, MatCell):
                return self._cell(obj, out)
            if isinstance(obj, MatStruct):
                return self._struct(obj, out)
            if obj.dtype.names is None:
                return self._array(obj, out)
            return self._recarray(obj, out)
        if isinstance(obj, np.generic) and isinstance(obj, (np.number, np.bool_, np.datetime64)):
            return self._array(np.asarray(obj), out)  # numpy scalars travel as 0-d arrays
        handler = _SIMPLE_WRITERS.get(type(obj)) or _writer_for(obj)
        self.dj0 = True  # every Python-native item is a dj0 extension
        handler(self, obj, out)

    def prefixed(self, obj, out: list) -> None:
        """Append a length-prefixed item (the form used inside containers)."""
        sub: list = []
        self.item(obj, sub)
        out.append(_U64.pack(sum(map(len, sub))))
        out.extend(sub)

    # ---- arrays ------------------------------------------------------------
    def _array(self, arr: np.ndarray, out: list) -> None:
        arr = np.asarray(arr)  # drop subclasses (matrix, masked) - only the data travels
        kind = arr.dtype.kind
        if kind in "OUM" or (arr.ndim == 0 and kind != "S"):  # reference keeps 0-d chars mYm
            self.dj0 = True
        out.append(struct.pack(f"<cQ{arr.ndim}Q", b"A", arr.ndim, *arr.shape))
        if kind in "OU":
            out.append(_TYPE_CPLX.pack(_OBJECT_ID, 0))
            for elem in arr.ravel(order="F").tolist() if kind == "U" else arr.ravel(order="F"):
                self.prefixed(elem, out)
            return
        if kind == "S" and arr.dtype.itemsize == 1:  # MATLAB chars are 16-bit
            out.append(_TYPE_CPLX.pack(_CHAR_ID, 0))
            out.append(arr.ravel(order="F").view(np.uint8).astype("<u2").view(np.uint8))
            return
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if kind == "c":
            real, imag = arr.real, arr.imag
            out.append(_TYPE_CPLX.pack(_type_id(real.dtype, arr.dtype), 1))
            out.append(_raw(real))
            out.append(_raw(imag))
            return
        out.append(_TYPE_CPLX.pack(_type_id(arr.dtype, arr.dtype), 0))
        out.append(_raw(arr))

    def _recarray(self, arr: np.ndarray, out: list) -> None:
        """``F``: field names, then each whole field as an unprefixed item."""
        self.dj0 = True
        arr = np.asarray(arr)
        names = arr.dtype.names
        out.append(b"F" + _U32.pack(len(names)) + _cstrings(names))
        for name in names:
            self.item(arr[name], out)

    def _cell(self, arr: np.ndarray, out: list) -> None:
        arr = np.asarray(arr)
        out.append(_shape_words(b"C", arr.shape))
        for elem in arr.ravel(order="F"):
            self.prefixed(elem, out)

    def _struct(self, arr: np.ndarray, out: list) -> None:
        arr = np.asarray(arr)
        names = arr.dtype.names
        out.append(_shape_words(b"S", arr.shape) + _U32.pack(len(names)) + _cstrings(names))
        flat = arr.ravel(order="F")
        columns = [flat[name] for name in names]
        for i in range(flat.size):
            for col in columns:
                self.prefixed(col[i], out)


def _type_id(dtype: np.dtype, shown: np.dtype) -> int:
    """Map a (real) dtype to its class id; anything else is not representable."""
    if dtype.kind == "M":
        unit, count = np.datetime_data(dtype)
        if count == 1 and unit in _DT_UNITS:
            return _DATETIME_BASE + _DT_UNITS.index(unit)
    else:
        type_id = _NUMERIC_IDS.get((dtype.kind, dtype.itemsize))
        if type_id is not None:
            return type_id
    raise DataJointError(f"Type {shown} is ambiguous or unknown and cannot be packed in a blob")


def _raw(arr: np.ndarray):
    """Column-major bytes of ``arr`` as a buffer (no copy when already F-contiguous)."""
    return np.ravel(arr, order="F").view(np.uint8)


def _shape_words(code: bytes, shape) -> bytes:
    return struct.pack(f"<cQ{len(shape)}Q", code, len(shape), *shape)


def _cstrings(names) -> bytes:
    return b"".join(name.encode() + b"\0" for name in names)


# ---- Python values (all dj0) ----------------------------------------------
def _write_none(packer, obj, out):
    out.append(b"\xff")


def _write_bool(packer, obj, out):
    out.append(b"\x0b\x01" if obj else b"\x0b\x00")


def _write_int(packer, obj, out):
    nbytes = obj.bit_length() // 8 + 1
    if nbytes > 0xFFFF:
        raise DataJointError(f"Integer too large to pack in a blob ({nbytes} bytes)")
    out.append(b"\x0a" + _U16.pack(nbytes) + int(obj).to_bytes(nbytes, "little", signed=True))


def _write_complex(packer, obj, out):
    out.append(b"\x0c" + _C128.pack(obj.real, obj.imag))


def _write_float(packer, obj, out):
    out.append(b"\x0d" + _F64.pack(obj))


def _write_temporal(packer, obj, out):
    """``t``: YYYYMMDD and HHMMSSffffff as integers, -1 for the missing half; tz dropped."""
    date = time = -1
    if isinstance(obj, dt.date):
        date = obj.year * 10000 + obj.month * 100 + obj.day
    if isinstance(obj, (dt.datetime, dt.time)):
        time = ((obj.hour * 100 + obj.minute) * 100 + obj.second) * 1000000 + obj.microsecond
    out.append(b"t" + _DATE_TIME.pack(date, time))


def _write_decimal(packer, obj, out):
    text = str(obj).encode("ascii")
    out.append(b"d" + _U64.pack(len(text)) + text)


def _write_uuid(packer, obj, out):
    out.append(b"u" + obj.bytes)


def _write_dict(packer, obj, out):
    out.append(b"\x04" + _U64.pack(len(obj)))
    for key, value in obj.items():
        packer.prefixed(key, out)
        packer.prefixed(value, out)


def _write_str(packer, obj, out):
    data = str(obj).encode("utf-8")
    out.append(b"\x05" + _U64.pack(len(data)) + data)


def _write_bytes(packer, obj, out):
    out.append(b"\x06" + _U64.pack(len(obj)))
    out.append(bytes(obj))


def _sequence_writer(code: bytes):
    def write(packer, obj, out):
        items = list(obj)
        out.append(code + _U64.pack(len(items)))
        for elem in items:
            packer.prefixed(elem, out)
    return write


_write_tuple, _write_list, _write_set = map(_sequence_writer, (b"\x01", b"\x02", b"\x03"))

# Exact-type fast path; subclasses go through `_writer_for` in reference order.
_SIMPLE_WRITERS = {
    type(None): _write_none, bool: _write_bool, int: _write_int, float: _write_float,
    complex: _write_complex, str: _write_str, bytes: _write_bytes, list: _write_list,
    tuple: _write_tuple, dict: _write_dict, set: _write_set, Decimal: _write_decimal,
    uuid.UUID: _write_uuid, dt.datetime: _write_temporal, dt.date: _write_temporal,
    dt.time: _write_temporal,
}
_ORDERED_WRITERS = (
    (bool, _write_bool), (int, _write_int), (complex, _write_complex), (float, _write_float),
    ((dt.datetime, dt.date, dt.time), _write_temporal), (Decimal, _write_decimal),
    (uuid.UUID, _write_uuid), (cabc.Mapping, _write_dict), (str, _write_str),
    ((bytes, bytearray), _write_bytes), (cabc.MutableSequence, _write_list),
    (cabc.Sequence, _write_tuple), (cabc.Set, _write_set),
)


def _writer_for(obj):
    for types, writer in _ORDERED_WRITERS:
        if isinstance(obj, types):
            return writer
    raise DataJointError(
        f"Packing objects of type {type(obj).__module__}.{type(obj).__qualname__} "
        "into a blob is not supported")


def _serialize(obj) -> bytes:
    """Header + body, uncompressed."""
    packer = _Packer()
    out: list = [b""]
    packer.item(obj, out)
    out[0] = DJ0 if packer.dj0 else MYM
    return b"".join(out)


def _compress(payload: bytes) -> bytes:
    """Apply the reference's rule: only above 1000 bytes and only if it saves space."""
    if len(payload) <= COMPRESS_THRESHOLD:
        return payload
    packed = ZL_PREFIX + _U64.pack(len(payload)) + zlib.compress(payload)
    return packed if len(packed) < len(payload) else payload


def pack(obj, compress: bool = True) -> bytes:
    """Serialize ``obj`` to DataJoint blob bytes (byte-identical to the reference)."""
    payload = _serialize(obj)
    return _compress(payload) if compress else payload


# =============================================================================
# Reading
# =============================================================================
class _Reader:
    """Cursor over an uncompressed payload (header already checked)."""

    __slots__ = ("buf", "pos", "squeeze", "word")

    def __init__(self, buf: bytes, pos: int, squeeze: bool, word: struct.Struct = _U64):
        self.buf, self.pos, self.squeeze, self.word = buf, pos, squeeze, word  # word: dims/lengths

    # ---- primitives --------------------------------------------------------
    def take(self, st: struct.Struct):
        values = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return values

    def u64(self) -> int:
        """A dimension or length word (64-bit, or 32-bit for legacy blobs)."""
        return self.take(self.word)[0]

    def raw(self, nbytes: int) -> bytes:
        end = self.pos + nbytes
        if end > len(self.buf):
            raise _invalid("truncated data")
        data, self.pos = self.buf[self.pos:end], end
        return data

    def shape(self) -> tuple:
        ndim = self.u64()
        size = self.word.size
        if ndim * size > len(self.buf) - self.pos:
            raise _invalid("truncated shape")
        shape = struct.unpack_from(f"<{ndim}{'Q' if size == 8 else 'I'}", self.buf, self.pos)
        self.pos += size * ndim
        return shape

    def cstring(self) -> str:
        end = self.buf.index(b"\0", self.pos)
        name, self.pos = self.buf[self.pos:end].decode(), end + 1
        return name

    def numbers(self, dtype: np.dtype, count: int) -> np.ndarray:
        """Zero-copy view of ``count`` values (read-only, backed by the blob)."""
        nbytes = count * dtype.itemsize
        if self.pos + nbytes > len(self.buf):
            raise _invalid("truncated array data")
        arr = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += nbytes
        return arr

    def check_count(self, count: int, min_size: int) -> None:
        """Refuse element counts the remaining bytes cannot hold (guards allocation)."""
        if count * min_size > len(self.buf) - self.pos:
            raise _invalid("element count exceeds the data")

    # ---- items -------------------------------------------------------------
    def item(self):
        code = self.buf[self.pos]
        self.pos += 1
        reader = _READERS.get(code)
        if reader is None:
            if code == 0x50:
                raise DataJointError("Sparse arrays (blob code 'P') are not supported")
            raise _invalid(f"unknown item code 0x{code:02x}")
        return reader(self)

    def prefixed(self):
        end = self.u64() + self.pos
        obj = self.item()
        if self.pos != end:
            raise _invalid("length check failed")
        return obj

    def finish(self, arr: np.ndarray, scalar: bool = True, unwrap: bool = True):
        """Apply ``squeeze`` (0-d results become Python values when ``scalar``);
        otherwise turn 0-d numeric arrays into numpy scalars when ``unwrap``."""
        if self.squeeze:
            arr = arr.squeeze()
            return arr.item() if scalar and arr.ndim == 0 else arr
        return arr[()] if unwrap and arr.ndim == 0 else arr

    def objects(self, count: int) -> np.ndarray:
        self.check_count(count, 9)
        out = np.empty(count, dtype=object)
        for i in range(count):
            out[i] = self.prefixed()
        return out

    def read_array(self):
        shape = self.shape()
        type_id, is_complex = self.take(_TYPE_CPLX)
        count = math.prod(shape)
        if type_id == _OBJECT_ID:  # 0-d object/char arrays stay arrays, as in the reference
            return self.finish(self.objects(count).reshape(shape, order="F"), unwrap=False)
        if type_id == _CHAR_ID:
            return self.finish(self.chars(shape, count), unwrap=False)
        dtype = ID_DTYPES.get(type_id)
        if dtype is None:
            raise _invalid(f"array type id {type_id} is not decodable")
        arr = self.numbers(dtype, count)
        if is_complex:  # all real parts, then all imaginary parts
            real, arr = arr, np.empty(count, _COMPLEX_OF.get(dtype) or np.complex128)
            arr.real, arr.imag = real, self.numbers(dtype, count)
        return self.finish(arr.reshape(shape, order="F"))

    def chars(self, shape: tuple, count: int) -> np.ndarray:
        """MATLAB 16-bit chars: row vectors become one joined string."""
        codes = self.numbers(np.dtype("<u2"), count)
        if len(shape) == 1 or (len(shape) == 2 and shape[0] == 1):
            return np.array([codes.tobytes().decode("utf-16-le", "surrogatepass")])
        return codes.astype("<u4").view("<U1").reshape(shape, order="F")

    def read_recarray(self):
        nfields = self.take(_U32)[0]
        self.check_count(nfields, 2)
        names = [self.cstring() for _ in range(nfields)]
        squeeze, self.squeeze = self.squeeze, False  # fields keep their shapes and dtypes
        try:
            fields = [np.asarray(self.item()) for _ in names]
        finally:
            self.squeeze = squeeze
        if not fields:
            return np.array(None)
        base = fields[0].shape
        dtype = [(name, f.dtype, f.shape[len(base):]) for name, f in zip(names, fields)]
        rec = np.empty(base, dtype=dtype)
        for name, f in zip(names, fields):
            rec[name] = f
        return self.finish(rec.view(np.recarray), scalar=False, unwrap=False)

    def read_cell(self):
        shape = self.shape()
        cell = self.objects(math.prod(shape)).reshape(shape, order="F")
        return self.finish(cell, scalar=False, unwrap=False).view(MatCell)

    def read_struct(self):
        shape = self.shape()
        nfields = self.take(_U32)[0]
        self.check_count(nfields, 2)
        names = [self.cstring() for _ in range(nfields)]
        count = math.prod(shape)
        self.check_count(count * nfields, 9)
        columns = [np.empty(count, dtype=object) for _ in names]
        for i in range(count):
            for col in columns:
                col[i] = self.prefixed()
        rec = np.empty(count, dtype=[(name, object) for name in names])
        for name, col in zip(names, columns):
            rec[name] = col
        return self.finish(rec.reshape(shape, order="F"), scalar=False, unwrap=False).view(MatStruct)

    def read_sequence(self, kind):
        count = self.u64()
        self.check_count(count, 9)
        return kind(self.prefixed() for _ in range(count))

    def read_dict(self):
        count = self.u64()
        self.check_count(count, 18)
        return {self.prefixed(): self.prefixed() for _ in range(count)}

    def read_int(self):
        return int.from_bytes(self.raw(self.take(_U16)[0]), "little", signed=True)

    def read_temporal(self):
        date, time = self.take(_DATE_TIME)
        d = dt.date(date // 10000, date // 100 % 100, date % 100) if date != -1 else None
        t = (dt.time(time // 10**10, time // 10**8 % 100, time // 10**6 % 100, time % 10**6)
             if time != -1 else None)
        if d is not None and t is not None:
            return dt.datetime.combine(d, t)
        if d is None and t is None:
            raise _invalid("empty date/time")
        return d if t is None else t


_READERS = {
    ord("A"): _Reader.read_array,
    ord("F"): _Reader.read_recarray,
    ord("C"): _Reader.read_cell,
    ord("S"): _Reader.read_struct,
    0xFF: lambda r: None,
    0x01: lambda r: r.read_sequence(tuple),
    0x02: lambda r: r.read_sequence(list),
    0x03: lambda r: r.read_sequence(set),
    0x04: _Reader.read_dict,
    0x05: lambda r: r.raw(r.u64()).decode("utf-8"),
    0x06: lambda r: r.raw(r.u64()),
    0x0A: _Reader.read_int,
    0x0B: lambda r: r.raw(1) != b"\0",
    0x0C: lambda r: complex(*r.take(_C128)),
    0x0D: lambda r: r.take(_F64)[0],
    ord("d"): lambda r: Decimal(r.raw(r.u64()).decode("ascii")),
    ord("t"): _Reader.read_temporal,
    ord("u"): lambda r: uuid.UUID(bytes=r.raw(16)),
}

_BAD_DATA = (struct.error, ValueError, IndexError, OverflowError, TypeError, KeyError,
             UnicodeDecodeError, ArithmeticError, RecursionError)


def decompress_blob(blob) -> bytes:
    """Strip the ``ZL123`` envelope if present, checking the declared length."""
    if not isinstance(blob, bytes):
        if not isinstance(blob, (bytearray, memoryview)):
            raise DataJointError(f"Cannot unpack a blob from {type(blob).__name__}; bytes expected")
        if bytes(blob[:len(ZL_PREFIX)]) != ZL_PREFIX:
            return bytes(blob)
    elif not blob.startswith(ZL_PREFIX):
        return blob
    try:
        size = _U64.unpack_from(blob, len(ZL_PREFIX))[0]
        inflater = _INFLATE.decompressobj()
        data = inflater.decompress(memoryview(blob)[len(ZL_PREFIX) + 8:], size + 1)
    except (struct.error, zlib.error, _INFLATE.error, OverflowError, ValueError) as e:
        raise _invalid(f"corrupt compressed data ({e})") from e
    if len(data) != size or not inflater.eof:
        raise _invalid("decompressed length does not match the header")
    return data


def _parse(data: bytes, squeeze: bool):
    header = data[:4]
    if header not in (MYM, DJ0):
        raise _invalid(f"unrecognised header {header!r}")
    reader = _Reader(data, 4, squeeze, _U32 if use_32bit_dims else _U64)
    try:
        obj = reader.item()
    except DataJointError:
        raise
    except _BAD_DATA as e:
        raise _invalid(f"{type(e).__name__}: {e}") from e
    if reader.pos != len(data):
        raise _invalid(f"{len(data) - reader.pos} trailing bytes")
    return obj


def unpack(blob, squeeze: bool = False):
    """Deserialize DataJoint blob bytes; raises DataJointError for anything invalid.

    Numeric arrays are read-only views on the blob (no copy); ``squeeze`` drops
    singleton dimensions and turns one-element arrays into Python scalars.
    """
    return _parse(decompress_blob(blob), squeeze)


# =============================================================================
# Columns
# =============================================================================
def _map_parallel(func, items: list, total_bytes: int) -> list:
    """zlib releases the GIL, so big columns gain from threads; small ones do not."""
    if len(items) < PARALLEL_MIN_COUNT or total_bytes < PARALLEL_MIN_BYTES:
        return [func(x) for x in items]
    workers = min(len(items), os.cpu_count() or 1, 16)
    if workers < 2:
        return [func(x) for x in items]
    return chunked_map(func, items, workers)


def pack_many(objs, compress: bool = True) -> list:
    """Pack a column of values; ``None`` stays ``None`` (SQL NULL), like ``unpack_many``."""
    objs = list(objs)
    payloads = [None if o is None else _serialize(o) for o in objs]
    if not compress:
        return payloads
    big = [i for i, p in enumerate(payloads) if p is not None and len(p) > COMPRESS_THRESHOLD]
    packed = _map_parallel(_compress, [payloads[i] for i in big],
                           sum(len(payloads[i]) for i in big))
    for i, p in zip(big, packed):
        payloads[i] = p
    return payloads


def unpack_many(blobs, squeeze: bool = False) -> list:
    """Unpack a column of blobs (``None`` for NULL), inflating in threads when large."""
    raw = list(blobs)
    zipped = [i for i, b in enumerate(raw)
              if isinstance(b, (bytes, bytearray, memoryview)) and bytes(b[:6]) == ZL_PREFIX]
    inflated = _map_parallel(decompress_blob, [raw[i] for i in zipped],
                             4 * sum(len(raw[i]) for i in zipped))
    for i, data in zip(zipped, inflated):
        raw[i] = data
    done = set(zipped)
    return [None if b is None else _parse(b if i in done else decompress_blob(b), squeeze)
            for i, b in enumerate(raw)]


def stack_if_uniform(values: list):
    """Stack equal-shape numeric/bool arrays into one (n, *shape) array, else None.

    Lets a fixed-size array column become a single Arrow/Polars array column.
    """
    if not values:
        return None
    from djframe.codecs.columns import is_stacked_rows
    stacked = is_stacked_rows(values)  # already one array (decoded column-wise): no copy
    if stacked is not None:
        return stacked
    first = values[0]
    if not isinstance(first, np.ndarray) or first.dtype.kind not in "biufc":
        return None
    dtype, shape = first.dtype, first.shape
    for v in values:
        if not isinstance(v, np.ndarray) or v.dtype != dtype or v.shape != shape:
            return None
    return np.stack(values)


# =============================================================================
# The <blob> codec
# =============================================================================
from djframe.codecs import Codec  # noqa: E402  (the registry imports this module at its end)


class BlobCodec(Codec):
    """<blob>: any supported Python/numpy object in the DataJoint blob format.

    In-table it is ``bytes``; with ``@store`` the blob bytes go to ``<hash@store>``
    (so identical blobs are stored once per schema).
    """

    name = "blob"

    def get_dtype(self, is_store):
        return "<hash>" if is_store else "bytes"

    def encode(self, value, *, key=None, store_name=None):
        return pack(value)

    def decode(self, stored, *, key=None):
        return unpack(bytes(stored), squeeze=_SQUEEZE.get())

    def encode_many(self, values, ctx=None):
        return pack_many(values)

    def decode_many(self, values, ctx=None):
        from djframe.codecs.columns import unpack_uniform
        values = list(values)
        squeeze = _SQUEEZE.get() and not getattr(ctx, "feeds_codec", False)
        if squeeze or use_32bit_dims:  # per-value reading: shapes change, or the words are narrow
            return unpack_many(values, squeeze=squeeze)
        stacked = unpack_uniform(values)  # equal-layout numeric arrays: one array, rows as views
        return list(stacked) if stacked is not None else unpack_many(values)

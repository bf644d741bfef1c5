"""Whole-column decoding of blobs that all hold numeric arrays of one dtype and shape.

The common case for scientific columns (one trace, image or spectrum per row)
needs no per-row Python objects: each blob is inflated straight into its row
of one preallocated ``(n, *shape)`` array (libz ``uncompress`` through ctypes,
which releases the GIL, so rows inflate on several threads), and the result is
that single array. No intermediate per-row buffers, no stacking copy. Any
column that does not fit (mixed shapes, other types, NULLs, corrupt data)
returns None and takes the general path, which also reports errors.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import mmap
import os
import struct

import numpy as np

from djframe.codecs.blob import DJ0, MYM, PARALLEL_MIN_BYTES, ZL_PREFIX, ID_DTYPES, decompress_blob
from djframe.storage.stores import chunked_map

_U64 = struct.Struct("<Q")
_ENVELOPE = len(ZL_PREFIX) + 8
_MIN_ROWS = 8
_INFLATERS: list = []


def _load(name):
    path = ctypes.util.find_library(name)
    try:
        return ctypes.CDLL(path) if path else None
    except OSError:
        return None


def _inflater():
    """A function inflating a zlib stream into a caller's buffer of the exact size (True on
    success), using libdeflate (about twice as fast) or libz; None when neither loads.
    ctypes releases the GIL during the call, so rows inflate in parallel."""
    if not _INFLATERS:
        _INFLATERS.append(_libdeflate() or _libz())
    return _INFLATERS[0]


def _libdeflate():
    lib = _load("deflate")
    if lib is None:
        return None
    lib.libdeflate_alloc_decompressor.restype = ctypes.c_void_p
    lib.libdeflate_free_decompressor.argtypes = [ctypes.c_void_p]
    lib.libdeflate_zlib_decompress.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                               ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    lib.libdeflate_zlib_decompress.restype = ctypes.c_int

    def inflate(src, src_len, dst, dst_len, state):
        if "d" not in state:
            state["d"] = lib.libdeflate_alloc_decompressor()
            state["free"] = lambda: lib.libdeflate_free_decompressor(state["d"])
        return lib.libdeflate_zlib_decompress(state["d"], src, src_len, dst, dst_len, None) == 0
    return inflate


def _libz():
    lib = _load("z")
    if lib is None:
        return None
    fn = lib.uncompress
    fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p, ctypes.c_ulong]
    fn.restype = ctypes.c_int

    def inflate(src, src_len, dst, dst_len, state):
        size = ctypes.c_ulong(dst_len)
        return fn(dst, ctypes.byref(size), src, src_len) == 0 and size.value == dst_len
    return inflate


def empty_array(shape, dtype) -> np.ndarray:
    """``np.empty`` for a large output, on plain anonymous pages. numpy asks the kernel for huge
    pages on big arrays; when memory is fragmented (right after a large insert or file write) the
    kernel compacts memory on every fault to provide them, which made a fetch up to twice as slow."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < (4 << 20):
        return np.empty(shape, dtype)
    return np.ndarray(shape, dtype, buffer=mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS))


def _layout(payload: bytes):
    """(header bytes, dtype, shape) of an uncompressed ``A`` numeric array payload, else None."""
    if len(payload) < 21 or payload[:4] not in (MYM, DJ0) or payload[4:5] != b"A":
        return None
    ndim = _U64.unpack_from(payload, 5)[0]
    if not 1 <= ndim <= 32:
        return None
    end = 13 + 8 * ndim
    shape = struct.unpack_from(f"<{ndim}Q", payload, 13)
    type_id, is_complex = struct.unpack_from("<II", payload, end)
    dtype = ID_DTYPES.get(type_id)
    if dtype is None or is_complex or dtype.kind not in "biuf":
        return None
    header = payload[:end + 8]
    if len(payload) != len(header) + math.prod(shape) * dtype.itemsize:
        return None
    return header, dtype, shape


def unpack_uniform(values: list):
    """One ``(n, *shape)`` array when every blob is a same-layout numeric array, else None."""
    n = len(values)
    if n < _MIN_ROWS or any(v is None for v in values):
        return None
    first = values[0]
    layout = _layout(decompress_blob(first))
    if layout is None:
        return None
    header, dtype, shape = layout
    total = len(header) + math.prod(shape) * dtype.itemsize
    rows = [np.frombuffer(v, np.uint8) for v in values]
    if not all(_fits(r, header, total) for r in rows):
        return None
    out = empty_array((n,) + tuple(reversed(shape)), dtype)  # blob data is column-major (Fortran) order
    flat = out.reshape(n, -1).view(np.uint8)
    workers = os.cpu_count() or 1
    if n * total < PARALLEL_MIN_BYTES or workers < 2:  # small columns: threads cost more than they save
        done = [_fill(range(n), rows, flat, header, total)]
    else:
        step = max(1, -(-n // (4 * workers)))
        parts = [range(i, min(n, i + step)) for i in range(0, n, step)]
        done = chunked_map(lambda part: _fill(part, rows, flat, header, total), parts, min(len(parts), workers))
    if not all(done):
        return None
    return out.transpose((0,) + tuple(range(len(shape), 0, -1)))


def _fits(row: np.ndarray, header: bytes, total: int) -> bool:
    if row[:len(ZL_PREFIX)].tobytes() == ZL_PREFIX:
        return len(row) > _ENVELOPE and _U64.unpack_from(row, len(ZL_PREFIX))[0] == total
    return len(row) == total and row[:len(header)].tobytes() == header


def _fill(part: range, rows: list, flat: np.ndarray, header: bytes, total: int) -> bool:
    """Inflate (or copy) rows ``part`` into ``flat``; False at the first row that does not match.

    Rows inflate straight into place: the payload is header + data, so row i is inflated to start
    ``len(header)`` bytes early, its header landing in the tail of row i-1 (checked there, then
    overwritten when row i-1 is written, since rows go in reverse order). The first row of the part
    goes through a scratch buffer: the row before it belongs to another thread."""
    hlen, width = len(header), flat.shape[1]
    buffer = flat.reshape(-1)  # the rows back to back
    scratch = np.empty(total, np.uint8)
    inflate, state = _inflater(), {}
    try:
        for i in reversed(part):
            row = rows[i]
            if row[:len(ZL_PREFIX)].tobytes() != ZL_PREFIX:
                flat[i] = row[hlen:]
                continue
            in_place = inflate is not None and i > part.start
            target = buffer[i * width - hlen:(i + 1) * width] if in_place else scratch
            if inflate is not None:
                stream = row[_ENVELOPE:]
                if not inflate(stream.ctypes.data, len(stream), target.ctypes.data, total, state):
                    return False
            else:
                try:
                    target = np.frombuffer(decompress_blob(row.tobytes()), np.uint8)
                except Exception:
                    return False
            if target[:hlen].tobytes() != header:
                return False
            if not in_place:
                flat[i] = target[hlen:]
        return True
    finally:
        if "free" in state:
            state["free"]()


def is_stacked_rows(values: list):
    """The array whose consecutive rows ``values`` are (as `unpack_uniform` returns them), else None."""
    if not values or not isinstance(values[0], np.ndarray):
        return None
    base = values[0].base
    while isinstance(base, np.ndarray) and base.base is not None and base.shape[0] != len(values):
        base = base.base
    if not isinstance(base, np.ndarray) or not base.shape or base.shape[0] != len(values):
        return None
    stacked = base.transpose((0,) + tuple(range(base.ndim - 1, 0, -1)))
    if stacked.shape[1:] != values[0].shape or stacked.dtype != values[0].dtype:
        return None
    start = stacked.__array_interface__["data"][0]
    stride = stacked.strides[0]
    for i, v in enumerate(values):
        if not isinstance(v, np.ndarray) or v.__array_interface__["data"][0] != start + i * stride \
                or v.shape != stacked.shape[1:] or v.strides != stacked.strides[1:]:
            return None
    return stacked

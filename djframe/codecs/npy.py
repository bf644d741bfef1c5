"""<npy@store>: one ``.npy`` file per value at a schema-addressed path.

The column JSON records dtype and shape (as the reference does) plus size and
CRC-32, so fetch returns an `NpyRef` that knows its shape without any I/O and
verifies the file when it is loaded (rows the reference wrote have neither and
are loaded unchecked).
"""

from __future__ import annotations

import ast
import functools
import io
import math

import numpy as np

from djframe.errors import DataJointError
from djframe.storage.stores import map_io, checksum, get_store, nbytes, verify
from djframe.codecs.object import SchemaCodec


def npy_chunks(array: np.ndarray) -> tuple:
    """``numpy.save`` output as (header, data buffer): the array is written without copying it."""
    buf = io.BytesIO()
    array = np.asanyarray(array)
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    header = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(buf, header)
    except ValueError:  # a header too long for format 1.0 (huge structured dtypes), as numpy.save does
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, header)
    order = "F" if header["fortran_order"] else "C"
    return buf.getvalue(), memoryview(array.reshape(-1, order=order).view(np.uint8))


class NpyCodec(SchemaCodec):
    """<npy@store>: ndarray in -> lazy `NpyRef` out."""

    name = "npy"

    def validate(self, value):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"<npy> requires a numpy.ndarray, got {type(value).__name__}")
        if value.dtype.hasobject:
            raise ValueError("<npy> cannot store object-dtype arrays")

    def encode_many(self, values, ctx):
        store = get_store(ctx.store_name, config=ctx.config)
        paths = self.paths(ctx, [False if v is None else ".npy" for v in values])
        present = [i for i, v in enumerate(values) if v is not None]
        data = [npy_chunks(values[i]) for i in present]
        ctx.put_many(store, {paths[i]: d for i, d in zip(present, data)})
        out = [None] * len(values)
        for i, d in zip(present, data):
            v = values[i]
            out[i] = {"path": paths[i], "store": store.name, "dtype": str(v.dtype), "shape": list(v.shape),
                      "size": nbytes(d), "crc32": checksum(d)}
        return out

    def handle(self, meta, store):
        return NpyRef(meta, store)


class NpyRef:
    """A lazily loaded array: shape and dtype come from the row, data from the store on demand."""

    __slots__ = ("_meta", "_backend", "_cached")
    __array_priority__ = 10

    def __init__(self, metadata: dict, backend=None):
        self._meta = metadata
        self._backend = backend
        self._cached = None

    shape = property(lambda self: tuple(self._meta["shape"]))
    dtype = property(lambda self: parse_dtype(self._meta["dtype"]))
    ndim = property(lambda self: len(self._meta["shape"]))
    size = property(lambda self: math.prod(self._meta["shape"]))
    nbytes = property(lambda self: self.size * self.dtype.itemsize)
    path = property(lambda self: self._meta["path"])
    store = property(lambda self: self._meta.get("store"))
    is_loaded = property(lambda self: self._cached is not None)

    def _store(self):
        if self._backend is None:
            self._backend = get_store(self.store)
        return self._backend

    def load(self, mmap_mode=None):
        """Read (once) and return the array, checking the recorded size and hash."""
        if mmap_mode is not None and self._store().protocol == "file":
            return np.load(self._store().full_path(self.path), mmap_mode=mmap_mode, allow_pickle=False)
        if self._cached is None:
            self._set(self._store().get(self.path, mutable=True), self._store())
        return self._cached

    def _set(self, data, store) -> None:
        verify(data, self.path, store.name, size=self._meta.get("size"), crc32=self._meta.get("crc32"))
        array = _from_npy(data, self.dtype, self.shape)
        if array.shape != self.shape or array.dtype != self.dtype:
            raise DataJointError(f"{self.path} holds a {array.dtype} array of shape {array.shape}; its row "
                                 f"records {self.dtype} {self.shape}.")
        self._cached = array

    def __array__(self, dtype=None, copy=None):
        array = self.load()
        return array if dtype is None else array.astype(dtype)

    def __getitem__(self, item):
        return self.load()[item]

    def __len__(self):
        if not self._meta["shape"]:
            raise TypeError("len() of a 0-dimensional array")
        return self._meta["shape"][0]

    def __iter__(self):
        return iter(self.load())

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(np.asarray(x) if isinstance(x, NpyRef) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __getattr__(self, name):  # numpy methods (mean, sum, reshape, ...) act on the loaded array
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.load(), name)

    def __repr__(self):
        return f"NpyRef(shape={self.shape}, dtype={self.dtype}, {'loaded' if self.is_loaded else 'not loaded'})"


@functools.lru_cache(maxsize=256)
def parse_dtype(text: str) -> np.dtype:
    """The dtype a row records as ``str(dtype)``: a name (``float64``) or, for structured
    dtypes, the Python literal of their description (``[('x', '<f8'), ('label', '<U10')]``)."""
    if not text.startswith(("[", "{")):
        return np.dtype(text)
    try:
        return np.dtype(ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError) as e:
        raise DataJointError(f"Cannot read the dtype {text!r} recorded for an <npy> value: {e}") from None


def load_all(refs: list) -> list:
    """Load a column of NpyRefs (None and other values pass through), files read on threads.

    Each local file is read straight into its array's own buffer (no copy) and checked
    while it is in the CPU cache."""
    pending: dict = {}
    for r in refs:
        if isinstance(r, NpyRef) and not r.is_loaded:
            pending.setdefault(id(r._store()), []).append(r)
    for batch in pending.values():
        store = batch[0]._store()
        if store.protocol == "file":
            _load_local(store, batch)
        else:  # one batched request, then the checks
            blobs = store.get_many([r.path for r in batch], mutable=True)
            map_io(lambda pair: pair[0]._set(pair[1], store), list(zip(batch, blobs)))
    return [r.load() if isinstance(r, NpyRef) else r for r in refs]


def _load_local(store, batch: list) -> None:
    """Buffers are allocated here, on the calling thread, where the memory the process has just
    freed is (worker threads allocate from arenas of their own: fresh pages, which cost more
    than the read); the threads read into them and check the bytes."""
    sizes = [r._meta.get("size") for r in batch]
    buffers = [np.empty(n, np.uint8) if isinstance(n, int) else None for n in sizes]

    def read(k):
        r, buf = batch[k], buffers[k]
        r._set(buf if buf is not None and store.read_into(r.path, buf) else store.get(r.path, mutable=True), store)
    map_io(read, list(range(len(batch))))


_HEADERS: dict = {}


def _from_npy(data, dtype, shape) -> np.ndarray:
    """The array in ``.npy`` bytes, as a view (no copy) when the header is the expected C-order one."""
    key = (dtype.str, tuple(shape))
    header = _HEADERS.get(key)
    if header is None:  # what numpy.save writes for a C-order array of this dtype and shape
        buf = io.BytesIO()
        try:
            np.lib.format.write_array_header_1_0(
                buf, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
        except ValueError:  # too long for format 1.0: let numpy read it
            return np.load(io.BytesIO(data), allow_pickle=False)
        header = buf.getvalue()
        if len(_HEADERS) < 1024:
            _HEADERS[key] = header
    if memoryview(data)[:len(header)] == header and dtype.kind not in "OV":
        return np.frombuffer(data, dtype, count=math.prod(shape), offset=len(header)).reshape(shape)
    return np.load(io.BytesIO(data), allow_pickle=False)

"""The codec system: ``<name>`` and ``<name@store>`` attribute types.

A codec turns Python values into a storable type (``bytes`` or ``json``, or
another codec) and back. Subclassing `Codec` with a ``name`` registers it.
Columns are encoded and decoded whole, so a codec may override
`encode_many` / `decode_many` to work on a column at once.
"""

from __future__ import annotations

import pyarrow as pa

from ..errors import DataJointError, InvalidValueError

_registry: dict[str, "Codec"] = {}


class Codec:
    """Base class of codecs. Set ``name``; implement ``get_dtype``, ``encode``, ``decode``."""

    name: str = ""

    def __init_subclass__(cls, register=True, **kwargs):
        super().__init_subclass__(**kwargs)
        if not register or not cls.name:
            return
        existing = _registry.get(cls.name)
        if existing is not None and type(existing).__qualname__ != cls.__qualname__:
            raise DataJointError(f"A codec named <{cls.name}> is already registered by {type(existing).__name__}.")
        _registry[cls.name] = cls()

    def get_dtype(self, is_store: bool) -> str:
        return "bytes"

    def validate(self, value):
        """Raise TypeError/ValueError for values the codec cannot encode."""

    def encode(self, value, *, key=None, store_name=None):
        raise NotImplementedError(f"codec <{self.name}> does not implement encode")  # abstract

    def decode(self, stored, *, key=None):
        raise NotImplementedError(f"codec <{self.name}> does not implement decode")  # abstract

    def encode_many(self, values, *, store_name=None):
        return [None if v is None else self.encode(v, store_name=store_name) for v in values]

    def decode_many(self, values):
        return [None if v is None else self.decode(v) for v in values]


def get_codec(name: str) -> Codec:
    try:
        return _registry[name]
    except KeyError:
        raise DataJointError(f"Codec <{name}> is not registered. Import the module that defines it "
                             f"before using the table (known codecs: {', '.join(list_codecs())}).") from None


def list_codecs() -> list[str]:
    return sorted(_registry)


class BlobCodec(Codec):
    """<blob>: any supported Python/numpy object in the DataJoint blob format."""

    name = "blob"

    def get_dtype(self, is_store):
        return "<hash>" if is_store else "bytes"

    def encode(self, value, *, key=None, store_name=None):
        from .blob import pack
        return pack(value)

    def decode(self, stored, *, key=None):
        from .blob import unpack
        return unpack(bytes(stored))

    def encode_many(self, values, *, store_name=None):
        from .blob import pack_many
        return pack_many(values)

    def decode_many(self, values):
        from .blob import unpack_many
        return unpack_many([None if v is None else bytes(v) for v in values])


def encode_column(values: list, attr, where: str) -> pa.Array:
    """Encode one column of Python values for an attribute of a codec type."""
    codec = get_codec(attr.type.codec)
    if attr.type.store is not None:
        raise DataJointError(f"{where}: stores for <{attr.type.codec}@{attr.type.store}> are not available in "
                             "this version of djframe; declare the attribute in-table (without @).")
    for v in values:
        if v is not None:
            try:
                codec.validate(v)
            except (TypeError, ValueError) as e:
                raise InvalidValueError(f"Invalid value for {where} (<{codec.name}>): {e}") from None
    try:
        encoded = codec.encode_many(values)
    except DataJointError as e:
        raise InvalidValueError(f"Cannot encode a value for {where} (<{codec.name}>): {e}") from None
    return pa.array(encoded, pa.large_binary())


def decode(value, attr, connection=None):
    return get_codec(attr.type.codec).decode(value)


def decode_many(values, attr, connection=None):
    return get_codec(attr.type.codec).decode_many(values)

"""The codec registry: ``<name>`` and ``<name@store>`` attribute types and their chains.

A codec turns Python values into a storable type (``bytes``, ``json``, another
core type, or another codec) and back. Subclassing `Codec` with a ``name``
registers it. Types chain: ``<blob@s>`` is blob -> bytes -> ``<hash@s>`` ->
JSON; encoding runs outermost to innermost, decoding the reverse, and the
``@store`` of the outer type reaches the inner codecs. The registry knows names
and chains only: it sits below the definition layer, which asks it what a codec
type is stored as.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from djframe.errors import DataJointError

if TYPE_CHECKING:  # the pipeline builds the context a codec sees
    from djframe.codecs.pipeline import ColumnContext

codecs_by_name: dict[str, "Codec"] = {}
_CODEC_TYPE = re.compile(r"^<\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:@\s*([A-Za-z0-9_-]*)\s*)?>$")


@runtime_checkable
class SparkAdapter(Protocol):
    """A codec that can also give its decoded values to Spark: an optional ``to_spark`` method
    (the reference's protocol; djframe itself never calls it)."""

    def to_spark(self, decoded, *, key=None):
        ...


class Codec:
    """Base class of codecs. Set ``name``; implement ``get_dtype``, ``encode``, ``decode``."""

    name: str = ""

    def __init_subclass__(cls, register=True, **kwargs):
        super().__init_subclass__(**kwargs)
        if not register or not cls.name:
            return
        existing = codecs_by_name.get(cls.name)
        if existing is not None and type(existing).__qualname__ != cls.__qualname__:
            raise DataJointError(f"A codec named <{cls.name}> is already registered by {type(existing).__name__}.")
        codecs_by_name[cls.name] = cls()

    def __repr__(self):
        return f"<{type(self).__name__}(name={self.name!r})>"

    def get_dtype(self, is_store: bool) -> str:
        return "bytes"

    def validate(self, value):
        """Raise TypeError/ValueError for values the codec cannot encode."""

    def encode(self, value, *, key=None, store_name=None):
        raise NotImplementedError(f"codec <{self.name}> does not implement encode")  # abstract

    def decode(self, stored, *, key=None):
        raise NotImplementedError(f"codec <{self.name}> does not implement decode")  # abstract

    def referenced_paths(self, stored) -> list:
        """(path, store) pairs a stored value points to, for the garbage collector."""
        if isinstance(stored, str):
            try:
                stored = json.loads(stored)
            except ValueError:
                return []
        if isinstance(stored, dict) and stored.get("path"):
            return [(stored["path"], stored.get("store"))]
        return []

    # ----- whole columns (override for batching) ---------------------------------------------
    def encode_many(self, values: list, ctx: "ColumnContext") -> list:
        """Encode a column; ``None`` stays ``None``. Default: `encode` per value."""
        call = _bind(self.encode, ("key", "store_name", "context"))
        out = []
        for i, v in enumerate(values):
            out.append(None if v is None else call(v, key=ctx.row_key(i), store_name=ctx.store_name,
                                                    context=ctx.context))
        return out

    def decode_many(self, values: list, ctx: "ColumnContext") -> list:
        call = _bind(self.decode, ("key", "context"))
        key = {"_config": ctx.config}
        return [None if v is None else call(bytes(v) if isinstance(v, memoryview) else v, key=key,
                                            context=ctx.context) for v in values]


def _bind(method, optional: tuple):
    """Call ``method`` with only the keyword arguments its signature declares."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        params = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = {k for k in optional if takes_all or k in params}

    def call(value, **kwargs):
        return method(value, **{k: v for k, v in kwargs.items() if k in accepted})
    return call


def get_codec(name: str) -> Codec:
    try:
        return codecs_by_name[name]
    except KeyError:
        _load_entry_points()
    try:
        return codecs_by_name[name]
    except KeyError:
        raise DataJointError(f"Codec <{name}> is not registered. Import the module that defines it "
                             f"before using the table (known codecs: {', '.join(list_codecs())}).") from None


def _load_entry_points():
    from importlib.metadata import entry_points
    for group in ("datajoint.codecs", "datajoint.types"):
        for ep in entry_points(group=group):
            try:
                ep.load()
            except Exception:  # a broken plugin must not break unrelated codecs
                continue


def list_codecs() -> list[str]:
    return sorted(codecs_by_name)


# ----- chains ------------------------------------------------------------------------------------
def parse_codec_type(text: str):
    """``"<name@store>"`` -> (name, store or None); None for a core type."""
    m = _CODEC_TYPE.match(text.strip())
    return (m.group(1), m.group(2)) if m else None


def resolve_chain(name: str, store: str | None) -> tuple[list, str]:
    """[(codec, store)] from the declared codec inward, and the core dtype ending the chain."""
    chain, seen = [], []
    while True:
        if name in seen:
            raise DataJointError(f"Codec chain {' -> '.join(f'<{n}>' for n in seen + [name])} is circular.")
        seen.append(name)
        codec = get_codec(name)
        try:
            dtype = codec.get_dtype(store is not None)
        except DataJointError:
            raise
        except Exception as e:
            raise DataJointError(f"<{name}{'@' + store if store is not None else ''}>: {e}") from None
        chain.append((codec, store))
        inner = parse_codec_type(dtype)
        if inner is None:
            return chain, dtype
        name = inner[0]
        store = inner[1] if inner[1] else store


def resolve_dtype(type_text: str) -> tuple[str, list, str | None]:
    """(core dtype ending the chain, [codecs] outermost first, store) of a declared type;
    a core type gives (itself, [], None). The reference's form of `resolve_chain`."""
    parsed = parse_codec_type(type_text)
    if parsed is None:
        return type_text.strip(), [], None
    chain, dtype = resolve_chain(*parsed)
    return dtype, [codec for codec, _ in chain], parsed[1]



"""<attach> and <attach@store>: a file kept with its name.

Stored bytes are ``filename`` UTF-8 + ``\\0`` + contents (storage doc §13.3),
in-table or hash-addressed. On fetch the file is written to
``config["download_path"]`` and its local path is returned; an existing file of
that name with other contents is never overwritten (``name_1.ext``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

from djframe.errors import DataJointError
from djframe.codecs import Codec


class AttachCodec(Codec):
    """<attach>: a local file path in -> the path of the downloaded copy out."""

    name = "attach"

    def get_dtype(self, is_store):
        return "<hash>" if is_store else "bytes"

    def validate(self, value):
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"<attach> expects a file path (str or Path), got {type(value).__name__}")
        path = Path(value)
        if not path.is_file():
            raise ValueError(f"<attach> needs an existing file, and {str(path)!r} is "
                             f"{'a directory' if path.is_dir() else 'missing'}")

    def encode(self, value, *, key=None, store_name=None):
        path = Path(value)
        return path.name.encode("utf-8") + b"\0" + path.read_bytes()

    def encode_many(self, values, ctx):
        return [None if v is None else self.encode(v) for v in values]

    def decode(self, stored, *, key=None):
        config = (key or {}).get("_config")
        return _download(bytes(stored), config)

    def decode_many(self, values, ctx):
        return [None if v is None else _download(bytes(v), ctx.config) for v in values]


def _download(stored: bytes, config=None) -> str:
    name, sep, contents = stored.partition(b"\0")
    if not sep:
        raise DataJointError("Not a valid <attach> value: no file name separator.")
    if config is None:
        from djframe.settings import config
    folder = Path(config["download_path"] or ".").expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    filename = Path(name.decode("utf-8")).name or "attachment"
    target = folder / filename
    stem, suffix = target.stem, target.suffix
    n = 0
    while target.exists():
        if target.is_file() and target.stat().st_size == len(contents) and target.read_bytes() == contents:
            return str(target)
        n += 1
        target = folder / f"{stem}_{n}{suffix}"
    target.write_bytes(contents)
    return str(target)

"""``datajoint.objectref``: `ObjectRef`, the handle ``<object@>`` and ``<filepath@>`` fetch returns.

Re-export only; it lives in `djframe.codecs.object`.
"""

from djframe.codecs.object import ObjectRef

__all__ = ["ObjectRef"]

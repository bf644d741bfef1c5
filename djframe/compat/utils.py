"""``datajoint.utils``: the table-name helpers user code imports from the reference's path.

Re-exports only; they live in `djframe.define.declare`, where table names are made.
"""

from djframe.define.declare import from_camel_case, is_camel_case, to_camel_case

__all__ = ["from_camel_case", "is_camel_case", "to_camel_case"]

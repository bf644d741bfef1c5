"""``datajoint.user_tables``: the table tiers under the reference's import path.

Re-exports only. `UserTable` is the reference's name for the base of the user's table
classes; in djframe that base is `Table` itself.
"""

from djframe.tables.populate import AutoPopulate
from djframe.tables.table import Table, TableMeta
from djframe.tables.tiers import Compute, Computed, Entry, Imported, Ingest, Lookup, Manual, Part

UserTable = Table

__all__ = ["AutoPopulate", "Compute", "Computed", "Entry", "Imported", "Ingest", "Lookup", "Manual", "Part",
           "Table", "TableMeta", "UserTable"]

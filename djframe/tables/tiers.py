"""The table tiers: Manual, Lookup, Imported, Computed, and Part.

The tier of a table is recorded only in its name prefix (storage reference §2),
so any client recognises it from the catalog.
"""

from __future__ import annotations

from djframe.errors import DataJointError
from djframe.tables.populate import AutoPopulate
from djframe.tables.table import Table


class Manual(Table):
    """Data entered by hand or by acquisition scripts."""

    tier = "manual"


class Lookup(Table):
    """Reference data that is part of the pipeline's design; ``contents`` is inserted on declaration."""

    tier = "lookup"
    contents = None


class Imported(AutoPopulate, Table):
    """Data brought in from outside the database by ``make()``."""

    tier = "imported"


class Computed(AutoPopulate, Table):
    """Data computed from other tables by ``make()``."""

    tier = "computed"


class _MasterOf:
    """`Part.master` on the class and on its instances (``Session.Trial.master is Session``)."""

    def __get__(self, obj, cls):
        return cls._master


class Part(Table):
    """A detail table of a master; rows are inserted with the master's rows."""

    tier = "part"
    _master = None
    master = _MasterOf()

    def delete(self, transaction=True, prompt=None, part_integrity="enforce", **legacy):
        from djframe.graph.delete import legacy_delete_arguments
        prompt, part_integrity = legacy_delete_arguments(prompt, part_integrity, legacy)
        if part_integrity == "enforce":
            raise DataJointError(f"Cannot delete from the part table {self.full_table_name} on its own: delete "
                                 "from its master, or pass part_integrity='ignore' (or 'cascade').")
        return super().delete(transaction=transaction, prompt=prompt, part_integrity=part_integrity)

    def drop(self, prompt=None, part_integrity="enforce"):
        if part_integrity == "enforce":
            raise DataJointError(f"Cannot drop the part table {self.full_table_name} on its own: drop its master, "
                                 "or pass part_integrity='ignore'.")
        return super().drop(prompt=prompt, part_integrity=part_integrity)

    def _check_direct_insert(self, allow_direct_insert):
        master = self._master
        if master is not None and master.tier in ("imported", "computed"):
            master._check_direct_insert(master(), allow_direct_insert)


# DataJoint 2.3 aliases
Entry, Ingest, Compute = Manual, Imported, Computed

TIER_CLASSES = {"manual": Manual, "lookup": Lookup, "imported": Imported, "computed": Computed, "part": Part}

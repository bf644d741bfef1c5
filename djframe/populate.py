"""AutoPopulate: ``make(key)`` for every key of ``key_source`` not yet in the table.

Each key's ``make`` runs in its own transaction: it fully lands or, on any
exception, leaves the database as it was. The tripartite form
(``make_fetch`` / ``make_compute`` / ``make_insert``) computes outside the
transaction and re-checks its inputs inside it.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
import traceback

from .errors import DataJointError, TransactionError
from .query.compile import Compiler
from .query.conditions import AndList

logger = logging.getLogger("djframe")


class AutoPopulate:
    """Mixin of Imported and Computed tables."""

    _key_source = None

    @property
    def key_source(self):
        """The join of the primary-key parents (aliased foreign keys projected with their renames)."""
        if self._key_source is not None:
            return self._key_source
        from .table import FreeTable
        source = None
        for fk in self.spec.foreign_keys:
            if not fk.in_key:
                continue
            parent = FreeTable(self.connection, fk.parent_schema, fk.parent_table)
            renames = {c: p for c, p in fk.attr_map if c != p}
            term = parent.proj(**renames)
            source = term if source is None else source * term
        if source is None:
            raise DataJointError(f"{self.class_name} has no primary-key foreign keys, so it has no default "
                                 "key_source; define key_source.")
        return source

    def make(self, key):
        """Compute and insert the rows for one key (override this or the tripartite methods)."""
        if not all(hasattr(self, m) for m in ("make_fetch", "make_compute", "make_insert")):
            raise DataJointError(f"{self.class_name} must define make(self, key) or make_fetch / make_compute / "
                                 "make_insert.")
        fetched = self.make_fetch(key)
        computed = self.make_compute(key, *fetched)
        self.make_insert(key, *computed)

    def _is_tripartite(self) -> bool:
        return type(self).make is AutoPopulate.make

    def _jobs_to_do(self, restrictions):
        todo = self.key_source & AndList(restrictions)
        return (todo.proj() - self.proj()).proj()

    def populate(self, *restrictions, suppress_errors=False, return_exception_objects=False, reserve_jobs=False,
                 max_calls=None, display_progress=False, processes=1, make_kwargs=None, priority=None,
                 refresh=None, order="original"):
        """Run make() for every missing key; returns {"success_count", "error_list"}."""
        connection = self.connection
        if connection.in_transaction:
            raise TransactionError("populate() cannot run inside a transaction.")
        if reserve_jobs or processes != 1:
            raise DataJointError("Job reservation (reserve_jobs=True, processes>1) is not available in this "
                                 "version of djframe; run populate() without them.")
        keys = self._jobs_to_do(restrictions).keys(order_by="KEY", limit=max_calls)
        return self._run(keys, suppress_errors, return_exception_objects, display_progress, make_kwargs)

    def _run(self, keys, suppress_errors, return_exception_objects, display_progress, make_kwargs):
        success, errors = 0, []
        iterator = keys
        if display_progress:
            from tqdm.auto import tqdm
            iterator = tqdm(keys, desc=self.class_name)
        self._made = _MadeKeys(self, keys)
        for key in iterator:
            error = self._populate1(key, make_kwargs or {})
            if error is None:
                success += 1
                continue
            if not suppress_errors:
                raise error
            errors.append((key, error if return_exception_objects else f"{type(error).__name__}: {error}"))
        return {"success_count": success, "error_list": errors}

    def _populate1(self, key, make_kwargs):
        """Run make for one key in its own transaction; return the exception or None."""
        if not self._is_tripartite():
            return self._in_transaction(key, lambda: self.make(dict(key), **make_kwargs))
        try:  # the tripartite form fetches and computes outside any transaction
            fetched = self.make_fetch(dict(key), **make_kwargs)
            computed = self.make_compute(dict(key), *fetched)
        except Exception as e:
            logger.error("Error making %s for %s: %s", self.class_name, key, e)
            return e

        def insert():
            if _digest(self.make_fetch(dict(key), **make_kwargs)) != _digest(fetched):
                raise DataJointError("Referential integrity failed! The `make_fetch` data has changed while "
                                     "computing; populate again.")
            self.make_insert(dict(key), *computed)

        return self._in_transaction(key, insert)

    def _in_transaction(self, key, body):
        """Skip a key already done; run body in one transaction; roll back and return any exception."""
        connection = self.connection
        connection.start_transaction()
        started = time.time()
        try:
            if self._is_made(key):
                connection.cancel_transaction()
                return None
            connection._populating = True
            try:
                body()
            finally:
                connection._populating = False
        except (KeyboardInterrupt, SystemExit):
            connection.cancel_transaction()
            raise
        except Exception as e:
            connection.cancel_transaction()
            logger.error("Error making %s for %s: %s", self.class_name, key, e)
            e.__traceback_text__ = traceback.format_exc()
            return e
        connection.commit_transaction()
        logger.debug("Made %s for %s in %.3f s", self.class_name, key, time.time() - started)
        return None

    def _is_made(self, key) -> bool:
        """Is the key in the table already (made by a concurrent populate since the keys were listed)?"""
        made = getattr(self, "_made", None)
        return made.contains(key) if made is not None else bool(self & key)

    def progress(self, *restrictions, display=False):
        """(remaining, total) keys of key_source."""
        total = len(self.key_source & AndList(restrictions))
        remaining = len(self._jobs_to_do(restrictions))
        if display:
            done = total - remaining
            logger.info("%s Completed %d of %d (%.1f%%)", self.class_name, done, total,
                        100 * done / total if total else 100)
        return remaining, total


class _MadeKeys:
    """Which keys of a populate run are in the table already, asked for a batch of upcoming keys at
    once while makes are quick: a fast populate then costs the round trips of the make itself, and a
    slow make still checks its key right before it runs (the answer is reused for `FRESH` seconds).
    As with a check per key, the primary key stays the real guard against a concurrent worker."""

    BATCH, FRESH = 32, 0.05

    def __init__(self, table, keys):
        heading = table.heading
        self.table, self.keys, self.heading = table, keys, heading
        self.simple = all(k in key and key[k] is not None for key in keys[:1] for k in heading.primary_key)
        self.flags, self.position, self.checked_at = {}, 0, -1.0

    def contains(self, key) -> bool:
        if not self.simple:
            return bool(self.table & key)  # a key_source with another key: match on the shared attributes
        index = self._index(key)
        if index is None:
            return self._check([key])[0]
        if index not in self.flags or time.monotonic() - self.checked_at > self.FRESH:
            batch = self.keys[index:index + self.BATCH]
            self.flags = dict(zip(range(index, index + len(batch)), self._check(batch)))
            self.checked_at = time.monotonic()
        return self.flags[index]

    def _index(self, key):
        """Keys come in order; find this one at or after the last position."""
        for i in range(self.position, min(self.position + 2, len(self.keys))):
            if self.keys[i] is key or self.keys[i] == key:
                self.position = i
                return i
        return None

    def _check(self, keys) -> list[bool]:
        table = self.table
        backend = table.connection.backend
        sql = Compiler(backend).keys_exist_sql(table.database, table.table_name, self.heading, keys)
        return [bool(v) for v in backend.fetch_rows(sql)[0]]


def _digest(obj) -> str:
    try:
        return hashlib.md5(pickle.dumps(obj, protocol=4)).hexdigest()
    except Exception:
        return hashlib.md5(repr(obj).encode()).hexdigest()

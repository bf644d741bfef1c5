"""AutoPopulate: ``make(key)`` for every key of ``key_source`` not yet in the table.

Each key's ``make`` runs in its own transaction: it fully lands or, on any
exception, leaves the database as it was. The tripartite form
(``make_fetch`` / ``make_compute`` / ``make_insert``) computes outside the
transaction and re-checks its inputs inside it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import pickle
import signal
import threading
import time
import traceback

from .errors import DataJointError, TransactionError
from .jobs import code_version
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

    @property
    def jobs(self):
        """The job queue of this table (``~~<name>``), declared on first use."""
        from .jobs import Job
        return Job(self)

    def populate(self, *restrictions, suppress_errors=False, return_exception_objects=False, reserve_jobs=False,
                 max_calls=None, display_progress=False, processes=1, make_kwargs=None, priority=None,
                 refresh=None, order="original"):
        """Run make() for every missing key; returns {"success_count", "error_list"}.

        With ``reserve_jobs`` the keys come from the job queue and each is reserved before it is made,
        so any number of workers can populate the table together; ``processes`` > 1 forks workers."""
        connection = self.connection
        config = connection.config
        connection.refuse_while_caching(f"populate {self.full_table_name}")
        if connection.in_transaction:
            raise TransactionError("populate() cannot run inside a transaction.")
        jobs = self.jobs if reserve_jobs else None
        if jobs is not None:
            if refresh or (refresh is None and config["jobs.auto_refresh"]):
                jobs.refresh(*restrictions, priority=priority, delay=-1)
            keys = jobs.pending_keys(restrictions, priority, max_calls)
        else:
            keys = self._jobs_to_do(restrictions).keys(order_by="KEY", limit=max_calls)
        run = _Run(self, jobs, suppress_errors, return_exception_objects, make_kwargs or {})
        with _terminate_as_exit(reserve_jobs):
            if processes > 1 and len(keys) > 1:
                return run.in_processes(keys, processes, display_progress)
            return run.here(keys, display_progress)

    def _make_key(self, key, jobs, make_kwargs):
        """Reserve (with a job queue), make in one transaction, then complete or record the error.
        Returns (made, error): made is False when another worker reserved the key first."""
        if jobs is not None and not jobs.reserve(key):
            return False, None
        started, clock = dt.datetime.now(), time.perf_counter()
        try:
            error = self._populate1(key, make_kwargs)
        except (KeyboardInterrupt, SystemExit) as e:
            if jobs is not None:
                jobs.error(key, f"{type(e).__name__}: interrupted", traceback.format_exc())
            raise
        duration = time.perf_counter() - clock
        if jobs is not None:
            if error is None:
                jobs.complete(key, duration)
            else:
                jobs.error(key, f"{type(error).__name__}: {error}", getattr(error, "__traceback_text__", None))
        if error is None:
            self._record_job_metadata(key, started, duration)
        return True, error

    def _record_job_metadata(self, key, started, duration):
        """Fill the hidden _job_* columns (tables declared with jobs.add_job_metadata)."""
        heading = self.heading
        if heading.get("_job_start_time") is None:
            return
        backend = self.connection.backend
        _, where = Compiler(backend).where_sql((self & key)._node)
        backend.update(self.database, self.table_name, {"_job_start_time": started.replace(
            microsecond=started.microsecond // 1000 * 1000), "_job_duration": duration,
            "_job_version": code_version()}, where, heading=heading)

    def _populate1(self, key, make_kwargs):
        """Run make for one key in its own transaction; return the exception or None."""
        if not self._is_tripartite():
            return self._in_transaction(key, lambda: self.make(dict(key), **make_kwargs))
        try:  # the tripartite form fetches and computes outside any transaction
            fetched = self.make_fetch(dict(key), **make_kwargs)
            computed = self.make_compute(dict(key), *fetched)
        except Exception as e:
            logger.error("Error making %s for %s: %s", self.class_name, key, e)
            e.__traceback_text__ = traceback.format_exc()
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
            connection._making = (self.full_table_name, dict(key), code_version())  # for rows' provenance
            try:
                body()
            finally:
                connection._populating, connection._making = False, None
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


class _Run:
    """One populate call: its keys made here, or by forked worker processes."""

    def __init__(self, table, jobs, suppress_errors, return_exception_objects, make_kwargs):
        self.table, self.jobs, self.make_kwargs = table, jobs, make_kwargs
        self.suppress_errors, self.return_exception_objects = suppress_errors, return_exception_objects

    def here(self, keys, display_progress):
        table = self.table
        table._made = _MadeKeys(table, keys)
        outcomes = (table._make_key(key, self.jobs, self.make_kwargs) + (key,) for key in keys)
        return self._tally(outcomes, len(keys), display_progress)

    def in_processes(self, keys, processes, display_progress):
        """Fork `processes` workers; each opens its own connection and makes the keys it is given."""
        import multiprocessing
        global _WORKER
        _WORKER = self
        context = multiprocessing.get_context("fork")
        with context.Pool(min(processes, len(keys)), initializer=_open_worker_connection) as pool:
            return self._tally(pool.imap(_make_in_worker, keys), len(keys), display_progress)

    def _tally(self, outcomes, total, display_progress):
        success, errors = 0, []
        if display_progress:
            from tqdm.auto import tqdm
            outcomes = tqdm(outcomes, total=total, desc=self.table.class_name)
        for made, error, key in outcomes:
            if error is None:
                success += made
                continue
            if not self.suppress_errors:
                raise error
            errors.append((key, error if self.return_exception_objects else f"{type(error).__name__}: {error}"))
        return {"success_count": success, "error_list": errors}


_WORKER: "_Run | None" = None  # the populate run a forked worker serves
_INHERITED: list = []  # the parent's backends, kept unclosed in a worker: closing would end the parent's sessions


def _open_worker_connection():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool ends its workers with SIGTERM when done
    connection = _WORKER.table.connection
    from .connection import make_backend
    _INHERITED.append(connection.backend)
    connection.backend = make_backend(connection.settings)


def _make_in_worker(key):
    run = _WORKER
    made, error = run.table._make_key(key, run.jobs, run.make_kwargs)
    if error is not None:
        error = _picklable(error)
    return made, error, key


def _picklable(error):
    """Exceptions cross back to the parent by pickling; one that does not pickle goes as its text."""
    try:
        pickle.dumps(error)
        return error
    except Exception:
        return DataJointError(f"{type(error).__name__}: {error}")


@contextlib.contextmanager
def _terminate_as_exit(active: bool):
    """While workers share a job queue, SIGTERM ends populate as SystemExit (the job is marked)."""
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_now(signum, frame):
        raise SystemExit(f"populate stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        return self.table.keys_exist(keys)


def _digest(obj) -> str:
    try:
        return hashlib.md5(pickle.dumps(obj, protocol=4)).hexdigest()
    except Exception:
        return hashlib.md5(repr(obj).encode()).hexdigest()

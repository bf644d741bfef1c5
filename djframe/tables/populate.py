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
import os
import pickle
import signal
import threading
import time
import traceback

from djframe.tables import stale as versions
from djframe.errors import DataJointError, DuplicateError, TransactionError
from djframe.tables.jobs import ORDERS, code_version, keys_to_do, order_keys, picklable_error
from djframe.query.compile import Compiler
from djframe.query.conditions import AndList

logger = logging.getLogger("djframe")
TRIPARTITE = ("make_fetch", "make_compute", "make_insert")


class AutoPopulate:
    """Mixin of Imported and Computed tables."""

    _key_source = None

    @property
    def key_source(self):
        """The join of the primary-key parents (aliased foreign keys projected with their renames)."""
        if self._key_source is not None:
            return self._key_source
        from djframe.tables.table import FreeTable
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

    _upstream = None  # the trace of the key being made, built on first use of self.upstream
    _upstream_key = None  # the key being made; None outside make()

    def make(self, key, **make_kwargs):
        """Compute and insert the rows for one key (override this or the tripartite methods)."""
        self._make_form()
        fetched = self.make_fetch(key, **make_kwargs)
        computed = self.make_compute(key, *fetched)
        self.make_insert(key, *computed)

    def _make_form(self) -> str:
        """How this class makes a key: 'legacy' (_make_tuples), 'make' or 'tripartite'. A class with
        none of them (e.g. from a virtual module) cannot populate: one error, before any key runs."""
        if callable(getattr(self, "_make_tuples", None)):
            return "legacy"
        if type(self).make is not AutoPopulate.make:
            return "make"
        if all(callable(getattr(self, m, None)) for m in TRIPARTITE):
            return "tripartite"
        raise DataJointError(f"{self.class_name} ({self.full_table_name}) has no make() method, so populate() "
                             "cannot compute its rows. Define make(self, key), or make_fetch / make_compute / "
                             "make_insert, in the class (a table from a virtual module has no code).")

    def _is_tripartite(self) -> bool:
        return self._make_form() == "tripartite"

    @property
    def upstream(self):
        """Inside make(): the ancestors of the key being made, each restricted to the rows that key
        references (``self.upstream[Session]``); the same object for every phase of one key."""
        if self._upstream_key is None:
            raise DataJointError(f"self.upstream is only available inside make() of {self.class_name}. Outside "
                                 "make(), trace the ancestors yourself: dj.Diagram.trace(table & key).")
        if self._upstream is None:
            from djframe.tables.diagram import Diagram
            self._upstream = Diagram.trace(self & self._upstream_key, key=self._upstream_key)
        return self._upstream

    def _jobs_to_do(self, restrictions):
        """The keys still to make (the reference's name for it)."""
        return keys_to_do(self, restrictions)

    @property
    def jobs(self):
        """The job queue of this table (``~~<name>``), declared on first use."""
        from djframe.tables.jobs import Job
        return Job(self)

    def populate(self, *restrictions, suppress_errors=False, return_exception_objects=False, reserve_jobs=False,
                 max_calls=None, display_progress=False, processes=1, make_kwargs=None, priority=None,
                 refresh=None, order="original", stale=False, executor=None):
        """Run make() for every missing key; returns {"success_count", "error_list"}.

        With ``reserve_jobs`` the keys come from the job queue: each worker claims the next due job
        in one statement (workers never race for a key), makes it and completes it, until the queue
        has nothing due; reservations of dead workers are re-pended on the way. Any number of
        independent processes can do this on one queue; ``processes`` > 1 forks such workers
        (None: one per CPU). ``order`` ('original', 'reverse', 'random') orders keys of one priority.
        ``stale=True`` first recomputes the stale keys (see ``stale()`` and ``dj.plan``).
        ``executor`` (a ``dask.distributed.Client``) makes the keys on its workers, always through the
        job queue (as if reserve_jobs=True: a reservation is what makes Dask's retries safe); see
        djframe.tables.executor and the class attribute ``resources``."""
        connection = self.connection
        config = connection.config
        connection.refuse_while_caching(f"populate {self.full_table_name}")
        if connection.in_transaction:
            raise TransactionError("populate() cannot run inside a transaction.")
        if order not in ORDERS:
            raise DataJointError(f"populate(order={order!r}) of {self.class_name}: use one of {ORDERS}.")
        self._make_form()
        versions.prepare(self)  # version records of made keys (djframe.tables.stale); declared outside transactions
        if stale:
            self._made = None
            return versions.populate_stale(
                self, restrictions, lambda key: self.make_key(key, make_kwargs or {}), lambda: self.populate(
                    *restrictions, suppress_errors=suppress_errors, return_exception_objects=return_exception_objects,
                    reserve_jobs=reserve_jobs, max_calls=max_calls, display_progress=display_progress,
                    processes=processes, make_kwargs=make_kwargs, priority=priority, refresh=refresh, order=order,
                    executor=executor), suppress_errors, return_exception_objects)
        if executor is not None:
            from djframe.tables import executor as dask_executor
            return dask_executor.populate(
                self, executor, restrictions, suppress_errors=suppress_errors, max_calls=max_calls,
                return_exception_objects=return_exception_objects, make_kwargs=make_kwargs, priority=priority,
                refresh=refresh, order=order)
        run = _Run(self, suppress_errors, return_exception_objects, make_kwargs or {})
        if not reserve_jobs:
            limit = max_calls if order == "original" else None  # the first keys in key order: only those fetched
            keys = order_keys(self._jobs_to_do(restrictions).keys(order_by="KEY", limit=limit), order)[:max_calls]
            processes = _worker_count(processes, len(keys))
            return run.in_processes(keys, processes, display_progress) if processes > 1 else \
                run.here(keys, display_progress)
        jobs = self.jobs
        if refresh or (refresh is None and config["jobs.auto_refresh"]):
            jobs.refresh(*restrictions, priority=priority, delay=-1)
        due = len(jobs.due(restrictions, priority))
        if max_calls is not None:
            due = min(due, max_calls)
        claims = _Claims(jobs, restrictions, priority, order, max_calls)
        processes = _worker_count(processes, due)
        with _terminate_as_exit(True):
            if processes > 1:
                return run.queue_in_processes(claims, processes, due, display_progress)
            return run.from_queue(claims, due, display_progress)

    def make_key(self, key, make_kwargs, jobs=None, holder=None):
        """Make one key in one transaction; with a job queue, then complete the job this worker
        holds (session `holder`) or record its error. Returns (made, error). Every populate path
        (here, forked workers, Dask tasks) makes its keys through this."""
        started, clock = dt.datetime.now(), time.perf_counter()
        held = {}

        def complete_job():  # inside the make's transaction: the result and the job's end land together
            held["job"] = jobs.finish(key, holder, time.perf_counter() - clock)

        # a kept job records its completion time, which inside a transaction would read as the
        # transaction's start on PostgreSQL (now()): kept jobs end after the commit
        in_transaction = jobs is not None and not jobs.connection.config["jobs.keep_completed"]
        try:
            error = self._populate1(key, make_kwargs, complete_job if in_transaction else None)
        except (KeyboardInterrupt, SystemExit) as e:
            if jobs is not None:
                jobs.finish(key, holder, error=f"{type(e).__name__}: {e or 'interrupted'}",
                            error_stack=traceback.format_exc())
            raise
        duration = time.perf_counter() - clock
        made = error is None and not getattr(self, "_skipped", False)
        if jobs is not None:
            text = None if error is None else f"{type(error).__name__}: {error}"
            if "job" not in held:  # a failed make, or a key found made already: ended on its own
                held["job"] = jobs.finish(key, holder, duration, error=text,
                                          error_stack=getattr(error, "__traceback_text__", None))
            if not held["job"]:
                logger.warning("The job of %s for %s was taken away while it was made (its worker looked dead); "
                               "left as it is.", self.class_name, key)
        if made:
            self._record_job_metadata(key, started, duration)
        return made, error

    def _record_job_metadata(self, key, started, duration):
        """Fill the hidden _job_* columns (tables declared with jobs.add_job_metadata)."""
        heading = self.heading
        if heading.get("_job_start_time") is None:
            return
        backend = self.connection.backend
        _, where = Compiler(backend).where_sql((self & key).node)
        backend.update(self.database, self.table_name, {"_job_start_time": started.replace(
            microsecond=started.microsecond // 1000 * 1000), "_job_duration": duration,
            "_job_version": code_version()}, where, heading=heading)

    def _populate1(self, key, make_kwargs, before_commit=None):
        """Run make for one key in its own transaction; return the exception or None.
        self.upstream serves this key meanwhile (one trace for all phases of a tripartite make)."""
        self._upstream_key, self._upstream = dict(key), None
        try:
            return self._run_make(key, make_kwargs, before_commit)
        finally:
            self._upstream_key = self._upstream = None

    def _run_make(self, key, make_kwargs, before_commit=None):
        form = self._make_form()
        if form != "tripartite":
            make = self._make_tuples if form == "legacy" else self.make
            return self._in_transaction(key, lambda: make(dict(key), **make_kwargs), before_commit)
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

        return self._in_transaction(key, insert, before_commit)

    def _in_transaction(self, key, body, before_commit=None):
        """Skip a key already done; run body (then `before_commit`, e.g. ending the key's job) in one
        transaction; roll back and return any exception."""
        connection = self.connection
        connection.start_transaction()
        started = time.time()
        self._skipped = False
        try:
            versions.before_make(self, key)  # populate(stale=True): the old result goes in this transaction
            if self._is_made(key):
                connection.cancel_transaction()
                self._skipped = True  # made by a concurrent populate since the keys were listed
                return None
            connection._populating = True
            connection._making = (self.full_table_name, dict(key), code_version())  # for rows' provenance
            try:
                body()
                versions.after_make(self, key)  # code version and upstream digests, in this transaction
                if before_commit is not None:
                    before_commit()
            finally:
                connection._populating, connection._making = False, None
        except (KeyboardInterrupt, SystemExit):
            connection.cancel_transaction()
            raise
        except Exception as e:
            connection.cancel_transaction()
            if isinstance(e, DuplicateError) and self._made_meanwhile(key):
                self._skipped = True
                return None
            logger.error("Error making %s for %s: %s", self.class_name, key, e)
            e.__traceback_text__ = traceback.format_exc()
            return e
        connection.commit_transaction()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Made %s for %s in %.3f s", self.class_name, key, time.time() - started)
        return None

    def _is_made(self, key) -> bool:
        """Is the key in the table already (made by a concurrent populate since the keys were listed)?"""
        made = getattr(self, "_made", None)
        return made.contains(key) if made is not None else bool(self & key)

    def _made_meanwhile(self, key) -> bool:
        """After a make failed on a duplicate: did a concurrent populate make the key since it was checked
        (then the key is done, not failed)? The checks before a make are batched or done by the claim, so
        the primary key is the final guard and this tells its refusal from a make's own error."""
        return getattr(self, "_made", None) is not None and bool(self & key)

    def stale(self, include_unknown=False):
        """The made rows whose code version or upstream rows changed since they were made, with a
        ``reason``; rows without a version record (made by another client) only with include_unknown."""
        return versions.stale(self, include_unknown)

    def progress(self, *restrictions, display=False):
        """(remaining, total) keys of key_source."""
        total = len(self.key_source & AndList(restrictions))
        remaining = len(self._jobs_to_do(restrictions))
        if display:
            done = total - remaining
            logger.info("%s Completed %d of %d (%.1f%%)", self.class_name, done, total,
                        100 * done / total if total else 100)
        return remaining, total


class _Claims:
    """Where a worker gets its next keys: claimed from the job queue a few at a time, within the
    populate call's max_calls (shared by its forked workers). When nothing is due, the reservations
    of dead workers are re-pended and claimed.

    A claim is a round trip and a commit, so quick makes are claimed several at a time: as many as
    take about `WORK` seconds by the makes seen so far (at most `MOST`, and one while no make has been
    timed or makes are slow). Held-but-unstarted keys are a worker's only extra loss if it dies (they
    are recovered like the key it was making), and at most `WORK` seconds of imbalance between workers."""

    WORK, MOST = 0.2, 32

    def __init__(self, jobs, restrictions, priority, order, max_calls):
        self.jobs, self.restrictions, self.priority, self.order = jobs, restrictions, priority, order
        self.quota = None if max_calls is None else _SharedCount(max_calls)
        self.batch = 1
        # a claimed key's heartbeat is its claim's: the work held at once stays well inside the timeout
        timeout = jobs.heartbeat_timeout if jobs.beats else 0
        self.work = min(self.WORK, timeout / 10) if timeout else self.WORK

    def next(self) -> list[dict]:
        """Jobs now held by this worker (each key with the holding connection_id); [] when done."""
        want = self.batch if self.quota is None else self.quota.take(self.batch)
        if not want:
            return []
        jobs = self._claim(want)
        if not jobs and self.jobs.recover_orphans():
            jobs = self._claim(want)
        if self.quota is not None and len(jobs) < want:
            self.quota.give_back(want - len(jobs))
        return jobs

    def timed(self, seconds_per_key: float):
        """The makes of the last claim took this long each: size the next claim by it."""
        self.batch = max(1, min(self.MOST, int(self.work / max(seconds_per_key, 1e-6))))

    def release(self, jobs: list[dict]):
        """Give back claimed jobs this worker will not make (it stops early): due again at once."""
        if jobs:
            self.jobs.release(jobs)
            if self.quota is not None:
                self.quota.give_back(len(jobs))

    def _claim(self, want):
        return self.jobs.claim(self.restrictions, self.priority, self.order, want)


class _SharedCount:
    """A count that forked workers draw from together (max_calls across processes)."""

    def __init__(self, value):
        import multiprocessing
        self.value = multiprocessing.get_context("fork").Value("q", value)

    def take(self, n) -> int:
        with self.value.get_lock():
            granted = max(0, min(n, self.value.value))
            self.value.value -= granted
            return granted

    def give_back(self, n):
        with self.value.get_lock():
            self.value.value += n


class _Run:
    """One populate call: its keys made here, or by forked worker processes."""

    def __init__(self, table, suppress_errors, return_exception_objects, make_kwargs):
        self.table, self.make_kwargs = table, make_kwargs
        self.suppress_errors, self.return_exception_objects = suppress_errors, return_exception_objects

    def here(self, keys, display_progress):
        table = self.table
        table._made = _MadeKeys(table, keys)
        outcomes = (table.make_key(key, self.make_kwargs) + (key,) for key in keys)
        return self._tally(outcomes, len(keys), display_progress)

    def from_queue(self, claims, due, display_progress):
        return self._tally(self.claimed(claims), due, display_progress)

    def claimed(self, claims, stop=None):
        """(made, error, key) of each job this worker claims, until nothing is due (or `stop` is set);
        the job's heartbeat is renewed while its key is made."""
        table, jobs = self.table, claims.jobs
        table._made = _Claimed()
        unstarted: list[dict] = []
        try:
            with jobs.heartbeat() as heartbeat:
                while stop is None or not stop.is_set():
                    unstarted = claims.next()
                    if not unstarted:
                        return
                    started = time.perf_counter()
                    for count in range(1, len(unstarted) + 1):
                        job = unstarted[0]
                        holder = job["connection_id"]
                        key = {k: v for k, v in job.items() if k != "connection_id"}
                        with heartbeat.holding(key, holder):
                            outcome = table.make_key(key, self.make_kwargs, jobs, holder)
                        unstarted.pop(0)
                        yield outcome + (key,)
                        if stop is not None and stop.is_set():
                            return
                    claims.timed((time.perf_counter() - started) / count)
        finally:  # stopped early (an error, a signal, `stop`): the keys claimed but not begun are due again
            try:
                claims.release(unstarted)
            except Exception as e:  # e.g. the connection is gone: they are recovered as a dead worker's
                logger.warning("Could not give back %d claimed job(s) of %s: %s", len(unstarted), table.class_name, e)

    def queue_in_processes(self, claims, processes, due, display_progress):
        """Fork `processes` workers that each claim from the queue until it is empty; their outcomes
        come back through a pipe (results themselves are in the database)."""
        import multiprocessing
        global _WORKER
        _WORKER = self
        context = multiprocessing.get_context("fork")
        outcomes, stop = context.Queue(), context.Event()
        workers = [context.Process(target=_queue_worker, args=(claims, outcomes, stop), daemon=True)
                   for _ in range(processes)]
        for worker in workers:
            worker.start()
        try:
            return self._tally(_received(outcomes, workers), due, display_progress)
        finally:
            stop.set()  # an error that is not suppressed: the others finish their current key and stop
            for worker in workers:
                worker.join()

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
            if not self.suppress_errors or key is None:  # key None: a forked worker itself stopped
                raise error
            errors.append((key, error if self.return_exception_objects else f"{type(error).__name__}: {error}"))
        return {"success_count": success, "error_list": errors}


def _worker_count(processes, keys: int) -> int:
    """``processes=None`` means one per CPU; never more workers than keys."""
    if processes is not None and (not isinstance(processes, int) or processes < 1):
        raise DataJointError(f"populate(processes={processes!r}): pass a positive number of worker processes, "
                             "or None for one per CPU.")
    return max(1, min(processes or os.cpu_count() or 1, keys))


_WORKER: "_Run | None" = None  # the populate run a forked worker serves
_INHERITED: list = []  # the parent's backends, kept unclosed in a worker: closing would end the parent's sessions


def _open_worker_connection():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool ends its workers with SIGTERM when done
    connection = _WORKER.table.connection
    from djframe.connection import make_backend
    _INHERITED.append(connection.backend)
    connection.backend = make_backend(connection.settings)


def _make_in_worker(key):
    run = _WORKER
    made, error = run.table.make_key(key, run.make_kwargs)
    if error is not None:
        error = picklable_error(error)
    return made, error, key


def _queue_worker(claims, outcomes, stop):
    """A forked worker's life: its own connection, then claim -> make -> complete until done."""
    connection = _WORKER.table.connection
    from djframe.connection import make_backend
    _INHERITED.append(connection.backend)
    connection.backend = make_backend(connection.settings)
    try:
        for made, error, key in _WORKER.claimed(claims, stop):
            outcomes.put((made, None if error is None else picklable_error(error), key))
            if error is not None and not _WORKER.suppress_errors:
                stop.set()
    except BaseException as e:  # KeyboardInterrupt, SystemExit, a lost server: the parent re-raises it
        outcomes.put((False, picklable_error(e), None))
        stop.set()
    finally:  # flush every outcome before exiting (the parent reads until all workers are gone)
        outcomes.close()
        outcomes.join_thread()


def _received(outcomes, workers):
    """The workers' outcomes as they arrive, until every worker has exited and the pipe is empty."""
    import queue
    while True:
        try:
            yield outcomes.get(timeout=0.2)
        except queue.Empty:
            if not any(w.is_alive() for w in workers):
                try:
                    while True:
                        yield outcomes.get(timeout=0.2)
                except queue.Empty:
                    return


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


class _Claimed:
    """The keys a worker claimed from the job queue: the claim's statement left out the keys already in
    the table, so no check per key is needed before making one; a key a concurrent populate without
    the queue makes meanwhile shows as a duplicate at the make's insert (``_made_meanwhile``)."""

    @staticmethod
    def contains(key) -> bool:
        return False


def _digest(obj) -> str:
    try:
        return hashlib.md5(pickle.dumps(obj, protocol=4)).hexdigest()
    except Exception:
        return hashlib.md5(repr(obj).encode()).hexdigest()

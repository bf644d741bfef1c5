"""``populate(executor=client)``: make a table's keys on a Dask cluster, the job queue deciding who makes what.

The client lists the due jobs and submits batches of keys; each task, on a worker process, opens its own
connection (from a plain settings dict), imports the table class by module and qualified name, and for
each key reserves its job first: a key another task (a Dask retry, a speculative duplicate, a concurrent
populate) holds or has made is left alone. The job row names the Dask task (``executor_task``) and its
heartbeat is renewed while the key is made. Results go to the database; a task returns only its tally.

The table's module must be importable on the workers (installed, or on their sys.path) and djframe must
be installed there.
"""

from __future__ import annotations

import importlib
import math
import threading
import uuid

from djframe.errors import DataJointError
from djframe.tables.jobs import order_keys, picklable_error

_CONNECTIONS: dict = {}  # on a worker: one connection per database, shared by its tasks
_SERIAL = threading.Lock()  # a table class has one connection: a worker's threads take turns with it


def populate(table, executor, restrictions, *, suppress_errors, return_exception_objects, max_calls,
             make_kwargs, priority, refresh, order) -> dict:
    """Queue the keys, submit one task per batch, add up the tasks' tallies (populate's summary dict)."""
    _require_distributed()
    jobs = table.jobs
    if refresh or (refresh is None and table.connection.config["jobs.auto_refresh"]):
        jobs.refresh(*restrictions, priority=priority, delay=-1)
    else:
        jobs.recover_orphans()
    keys = order_keys(jobs.pending_keys(restrictions, priority, limit=max_calls), order)
    if not keys:
        return {"success_count": 0, "error_list": []}
    from distributed import Event
    stop = None if suppress_errors else Event(f"djframe-stop-{uuid.uuid4().hex}", client=executor)
    futures = [executor.submit(make_batch, _target(table), table.connection.settings, batch, make_kwargs or {},
                               suppress_errors, stop and stop.name, pure=False,
                               resources=dask_resources(_declared(table)))
               for batch in batches(keys, _worker_count(executor))]
    return _gather(futures, stop, return_exception_objects)


def make_batch(target, settings, keys, make_kwargs, suppress_errors=True, stop=None) -> tuple[int, list]:
    """On a worker: reserve -> make -> complete each key; (keys made, [(key, error)]). `stop`: the name
    of the Dask event a failed make of this populate sets; no new key is started once it is set."""
    if stop is not None:
        from distributed import Event
        stop = Event(stop)
    with _SERIAL:
        table = _table(target, settings)
        jobs = table.jobs
        made, errors = 0, []
        with jobs.heartbeat() as heartbeat:
            for key in keys:
                if stop is not None and stop.is_set():
                    break
                if not jobs.reserve(key):
                    continue  # another task holds it or made it: nothing to do
                holder = jobs.worker()["connection_id"]
                with heartbeat.holding(key, holder):
                    ok, error = table.make_key(key, make_kwargs, jobs, holder)
                made += bool(ok)
                if error is not None:
                    errors.append((key, picklable_error(error)))
                    if not suppress_errors:
                        break
        return made, errors


def dask_resources(declared: dict | None) -> dict | None:
    """A table's ``resources`` as Dask's abstract numbers: sizes like "16GB" become bytes, so that a worker
    started with ``--resources memory=16e9`` matches."""
    if not declared:
        return None
    from dask.utils import parse_bytes
    resources = {}
    for name, amount in declared.items():
        if isinstance(amount, str):
            resources[name] = parse_bytes(amount)
        elif isinstance(amount, (int, float)) and not isinstance(amount, bool) and amount >= 0:
            resources[name] = amount
        else:
            raise DataJointError(f"resources[{name!r}] = {amount!r}: give a number, or a size such as '16GB'.")
    return resources


def batches(keys: list, workers: int) -> list[list]:
    """About four batches per worker: spread evenly, few round trips, a lost task costs little."""
    size = max(1, math.ceil(len(keys) / (max(1, workers) * 4)))
    return [keys[i:i + size] for i in range(0, len(keys), size)]


def _gather(futures, stop, return_exception_objects) -> dict:
    """Tallies as tasks finish. An error that is not suppressed (`stop`: its event) stops every task
    before its next key, and is raised once all of them have returned: cancelling a running Dask task
    does not stop it, so populate would return while its keys were still being made."""
    from distributed import as_completed, wait
    success, error_list = 0, []
    for future in as_completed(futures):
        made, errors = future.result()
        success += made
        if errors and stop is not None:
            stop.set()
            wait(futures)
            raise errors[0][1]
        error_list += [(key, e if return_exception_objects else f"{type(e).__name__}: {e}") for key, e in errors]
    return {"success_count": success, "error_list": error_list}


def _table(target, settings):
    """The table instance on a worker: the database connected first, so the module's schema binds to it."""
    from djframe.connection import Connection, make_backend, set_connection
    module_name, qualname = target
    identity = repr(sorted(settings.items()))
    if identity not in _CONNECTIONS:
        _CONNECTIONS[identity] = Connection.over(make_backend(settings), settings)
    set_connection(_CONNECTIONS[identity])
    cls = importlib.import_module(module_name)
    for name in qualname.split("."):
        cls = getattr(cls, name)
    return cls()


def _target(table) -> tuple[str, str]:
    cls = type(table)
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        raise DataJointError(f"populate(executor=...) imports {cls.__qualname__} on the workers by name: define it "
                             "at the top level of an importable module (not in __main__ or a function).")
    return cls.__module__, cls.__qualname__


def _declared(table):
    return getattr(type(table), "resources", None)


def _worker_count(executor) -> int:
    try:
        return len(executor.scheduler_info()["workers"]) or 1
    except Exception:
        return 1


def _require_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DataJointError('populate(executor=...) needs Dask distributed: pip install "djframe[dask]"') from None

"""Run one measured operation in a fresh process and print JSON {seconds, peak_mb, rows}.

A fresh process per measurement gives an honest peak RSS for each fetch
(ru_maxrss only grows), and keeps the clients from warming each other's caches.
Usage: python -m benchmarks.worker '<json spec>'
"""

from __future__ import annotations

import json
import resource
import sys
import time

import benchmarks.clients as clients


def peak_mb() -> float:
    """This process's peak resident memory. On Linux VmHWM, since ru_maxrss can carry the forking
    parent's peak across exec (the benchmark's parent grows large while it loads 10M rows)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm_up():
    """Import what every client ends up importing, so one-time import cost is not measured."""
    import pandas  # noqa: F401  (pyarrow imports it lazily on the first conversion from Python values)
    import pyarrow as pa
    pa.array([1, None])


def main(spec: dict):
    warm_up()
    client = clients.make(spec["client"], spec["backend"], spec["schema"])
    operation = getattr(client, spec["case"])
    prepare = getattr(client, "prepare_" + spec["case"], None)
    if prepare:
        prepare(**spec.get("args", {}))
    before = peak_mb()
    start = time.perf_counter()
    result = operation(**spec.get("args", {}))
    seconds = time.perf_counter() - start
    peak = max(0.0, peak_mb() - before)
    if spec["case"] == "compile":  # the operation times its own loop and returns seconds per compile
        seconds, result = result, 1
    rows, result_mb = (result.height, result.to_arrow().nbytes / 2**20) if hasattr(result, "height") else (result, 0)
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "rows": rows, "result_mb": result_mb}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

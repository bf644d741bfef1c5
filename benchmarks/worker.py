"""Run one measured operation in a fresh process and print JSON {seconds, peak_mb, rows, ...}.

A fresh process per measurement keeps the clients from warming each other's caches and gives each
operation its own peak memory. With ``reps`` > 1 the operation runs that many times in the process
(each after its ``prepare_`` step) and every time is reported; the peak is that of the first run.
Per-call cases (each a median over many calls) may share one process: ``cases`` lists them.
Usage: python -m benchmarks.worker '<json spec>'
"""

from __future__ import annotations

import json
import sys
import time

import benchmarks.clients as clients


def status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> float:
    """Reset the peak resident memory (VmHWM) to the current one and return the current one, so a
    peak read afterwards belongs to what ran since (Linux >= 4.0: ``5`` to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return status_mb("VmHWM")  # no reset: the peak since start, minus the peak before
    return status_mb("VmRSS")


def warm_up():
    """Import what every client ends up importing, so one-time import cost is not measured."""
    import pandas  # noqa: F401  (pyarrow imports it lazily on the first conversion from Python values)
    import pyarrow as pa
    pa.array([1, None])


def frame_mb(client) -> float:
    frame = getattr(client, "frame", None)
    return frame.estimated_size() / 2**20 if frame is not None else 0.0


def run_once(client, case: str, args: dict) -> dict:
    prepare = getattr(client, "prepare_" + case, None)
    if prepare:
        prepare(**args)
    before = reset_peak()
    start = time.perf_counter()
    result = getattr(client, case)(**args)
    seconds = time.perf_counter() - start
    peak = max(0.0, status_mb("VmHWM") - before)
    extra = {}
    if isinstance(result, dict):  # the operation timed itself (per call, per compile), maybe with a pair
        extra = {k: v for k, v in result.items() if k not in ("seconds", "rows")}
        seconds, result = result["seconds"], result["rows"]
    rows, result_mb = (result.height, result.to_arrow().nbytes / 2**20) if hasattr(result, "height") else (result, 0)
    return {"seconds": seconds, "peak_mb": peak, "rows": rows, "result_mb": result_mb, "frame_mb": frame_mb(client),
            **extra}


def main(spec: dict):
    """One case, or (``cases``) several that time themselves per call, one after the other."""
    warm_up()
    client = clients.make(spec["client"], spec["backend"], spec["schema"])
    out = []
    for case in spec.get("cases") or [spec["case"]]:
        runs = [run_once(client, case, spec.get("args", {})) for _ in range(spec.get("reps", 1))]
        out.append({**runs[0], "case": case, "seconds": [r["seconds"] for r in runs]})
    print(json.dumps(out))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

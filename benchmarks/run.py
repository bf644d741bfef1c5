"""Benchmark djframe against the raw drivers and the reference client, side by side, in one run.

    python -m benchmarks.run                       # all backends, 1,000,000 rows, 3 repetitions
    python -m benchmarks.run --rows 100000 --backends sqlite,postgresql --reps 5 --stream-rows 0

Every measurement runs in a fresh process (benchmarks/worker.py), so each fetch has its own peak RSS.
Prints medians and ratios and, with --out, writes a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import polars as pl

from benchmarks import clients

CASES = ("insert", "fetch", "join", "populate", "compile", "heading", "stream")
NO_RAW = ("compile", "heading")  # the raw driver has no expression to compile and no heading to read
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(case, client, backend, schema, args, reps):
    runs = []
    for _ in range(reps):
        spec = json.dumps({"case": case, "client": client, "backend": backend, "schema": schema, "args": args})
        proc = subprocess.run([sys.executable, "-m", "benchmarks.worker", spec], capture_output=True, text=True,
                              cwd=ROOT, timeout=1800)
        if proc.returncode:
            tail = proc.stderr.strip().splitlines()[-1:] or ["failed"]
            return {"error": tail[0][:120]}
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"seconds": statistics.median(r["seconds"] for r in runs),
            "peak_mb": statistics.median(r["peak_mb"] for r in runs), "rows": runs[-1]["rows"],
            "result_mb": runs[-1].get("result_mb", 0), "reps": reps}


def setup(backend, schema, rows, keys, stream_rows):
    """Declare the tables with djframe and load the data every case reads."""
    client = clients.Djframe(backend, schema)
    t = client.t
    t["Grp"].insert([{"a": a, "label": f"g{a:03d}"} for a in range(100)], skip_duplicates=True)
    t["Src"].insert([{"k": k} for k in range(keys)], skip_duplicates=True)
    if stream_rows and len(t["Huge"]()) != stream_rows:
        t["Huge"].delete_quick()
        chunk = 1_000_000
        for start in range(0, stream_rows, chunk):
            n = min(chunk, stream_rows - start)
            frame = clients.big_frame(n, start).select("id", "x")
            t["Huge"].insert(frame)
    return client


def refill(backend, schema, rows):
    """Reload `big` if an insert left it short, and let the server gather statistics (and on
    PostgreSQL clear the dead rows of the repeated inserts), as autovacuum would."""
    client = clients.Djframe(backend, schema)
    big = client.t["Big"]
    if len(big()) != rows:
        client.schema.connection.backend.execute(clients.emptied(backend, big.full_table_name))
        big.insert(clients.big_frame(rows))
    clients.analyze(client, ("big", "huge"))


def run(args):
    results = []
    for backend in args.backends.split(","):
        schema = f"djbench_{backend[:2]}"
        started = time.time()
        setup(backend, schema, args.rows, args.keys, args.stream_rows)
        refill(backend, schema, args.rows)
        print(f"[{backend}] setup {time.time() - started:.1f} s", flush=True)
        for case in CASES:
            if case == "stream" and not args.stream_rows:
                continue
            case_args = {"insert": {"rows": args.rows}, "populate": {"keys": args.keys}}.get(case, {})
            row = {"backend": backend, "case": case}
            for client in ("djframe", "raw", "reference"):
                if client == "reference" and (backend == "sqlite" or case == "stream"):
                    continue
                if client == "raw" and case in NO_RAW:
                    continue
                reps = args.reps if not (client == "reference" and case in ("insert", "fetch")) \
                    else max(1, min(args.reps, args.reference_reps))
                row[client] = measure(case, client, backend, schema, case_args, reps)
                print(f"[{backend}] {case:8s} {client:9s} {row[client]}", flush=True)
            results.append(row)
            if case == "insert":
                refill(backend, schema, args.rows)  # a failed insert must not leave the next cases empty
    return results


def ratio(a, b):
    if not a or not b or "seconds" not in a or "seconds" not in b or not a["seconds"]:
        return ""
    return f"{b['seconds'] / a['seconds']:.2f}"


def fmt(m):
    if not m:
        return "n/a"
    if "error" in m:
        return f"error: {m['error']}"
    s = m["seconds"]
    return f"{s * 1e3:.3f} ms" if s < 0.01 else f"{s:.3f} s"


def report(results, args) -> str:
    lines = [
        f"Machine: {platform.node()} — {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d')}; rows={args.rows:,}, populate keys={args.keys:,}, "
        f"stream rows={args.stream_rows:,}; medians of {args.reps} runs (reference insert/fetch: "
        f"{min(args.reps, args.reference_reps)}).",
        "",
        "| backend | case | djframe | raw driver | reference | djframe ÷ raw | reference ÷ djframe "
        "| djframe peak MB | raw peak MB | result MB | djframe peak ÷ result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d, raw, ref = r.get("djframe"), r.get("raw"), r.get("reference")
        peak, result = (d or {}).get("peak_mb", 0), (d or {}).get("result_mb", 0)
        lines.append(f"| {r['backend']} | {r['case']} | {fmt(d)} | {fmt(raw)} | {fmt(ref)} | "
                     f"{ratio(raw, d)} | {ratio(d, ref)} | {peak:.0f} | {(raw or {}).get('peak_mb', 0):.0f} | "
                     f"{f'{result:.0f}' if result else ''} | {f'{peak / result:.2f}' if result else ''} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--stream-rows", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--reference-reps", type=int, default=1, help="reps for the slow reference insert/fetch")
    parser.add_argument("--out", help="write the Markdown table to this file")
    args = parser.parse_args()
    pl.Config.set_tbl_rows(100)
    results = run(args)
    text = report(results, args)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

"""The Markdown report and the plots of one `benchmarks.run` (rebuild: python -m benchmarks.report results.json [out.md])."""

from __future__ import annotations

import json
import os
import sys

TARGETS = {"insert": 1.2, "peak": 2.0, "blob": 3.0, "percall": 1.5, "populate": 1.5, "populate_jobs": 2.0}


def per_key_target(case: str) -> float:
    """Issue 15: populate ≤ 1.5× the hand-written loop, ≤ 2× with reserve_jobs=True."""
    return TARGETS["populate_jobs"] if case == "populate_jobs" else TARGETS["populate"]


def pick(results, **where) -> dict | None:
    for r in results:
        if all(r.get(k) == v for k, v in where.items()):
            return r
    return None


def secs(m, per=1) -> str:
    if not m:
        return "n/a"
    if "error" in m:
        return f"error: {m['error'][:70]}"
    s = m["seconds"] / per
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def ratio(numerator, denominator, target=None) -> str:
    """numerator ÷ denominator, with ✓/✗ against an upper target."""
    if not numerator or not denominator or "seconds" not in numerator or "seconds" not in denominator:
        return ""
    value = numerator["seconds"] / denominator["seconds"]
    mark = "" if target is None else (" ✓" if value <= target else " ✗")
    return f"{value:.2f}{mark}"


def insert_table(results) -> list[str]:
    lines = ["| backend | table | rows | djframe | raw bulk | djframe ÷ raw (≤ 1.2) | djframe peak MB | frame MB "
             "| peak ÷ frame (≤ 2) | raw peak MB | pl.write_database adbc | pl.write_database sqlalchemy | ibis insert "
             "| reference | reference ÷ djframe |", "|" + "---|" * 15]
    keys = sorted({(r["backend"], r["table"], r["rows"]) for r in results if r.get("section") == "insert"},
                  key=lambda k: (k[0], k[1], k[2]))
    for backend, table, rows in keys:
        get = lambda c: pick(results, section="insert", backend=backend, table=table, rows=rows, client=c)  # noqa
        dj, raw = get("djframe"), get("raw")
        peak, frame = (dj or {}).get("peak_mb", 0), (dj or {}).get("frame_mb", 0)
        within = "" if not frame or "error" in (dj or {}) else \
            f"{peak / frame:.2f}{' ✓' if peak / frame <= TARGETS['peak'] else ' ✗'}"
        lines.append(f"| {backend} | {table} | {rows:,} | {secs(dj)} | {secs(raw)} | "
                     f"{ratio(dj, raw, TARGETS['insert'])} | {peak:.0f} | {frame:.0f} | {within} | "
                     f"{(raw or {}).get('peak_mb', 0):.0f} | "
                     f"{secs(get('pl.write_database[adbc]'))} | {secs(get('pl.write_database[sqlalchemy]'))} | "
                     f"{secs(get('ibis.insert'))} | {secs(get('reference'))} | {ratio(get('reference'), dj)} |")
    return lines


def populate_table(results) -> list[str]:
    """Per key. The target compares the same statements: djframe without its version records (the raw
    loop and the reference write none) against the raw loop, alternating block by block in one process
    where measured so (`populate-pair`), else each in its own process; the default, with records, beside it."""
    lines = ["| backend | case | djframe, same statements (alternating) | raw loop (alternating) | ÷ (≤ 1.5) | "
             "djframe, same statements | raw loop | ÷ raw loop (jobs ≤ 2) | djframe with version records | "
             "÷ raw loop | reference | reference ÷ djframe |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["backend"], r["case"]) for r in results if r.get("section") == "populate"))
    for backend, case in keys:
        get = lambda c: pick(results, section="populate", backend=backend, case=case, client=c)  # noqa
        same, dj, fl, ref, pair = (get("djframe-unrecorded"), get("djframe"), get("raw"), get("reference"),
                                   get("populate-pair"))
        per = (dj or same or {}).get("keys", 1)
        alternating = {"seconds": pair["paired_djframe"]} if pair and "paired_djframe" in pair else None
        target = per_key_target(case)
        lines.append(f"| {backend} | {case} (per key) | {secs(alternating, per)} | {secs(pair if alternating else None, per)} | "
                     f"{ratio(alternating, pair, target) if alternating else ''} | {secs(same, per)} | {secs(fl, per)} | "
                     f"{ratio(same, fl, None if alternating else target)} | {secs(dj, per)} | {ratio(dj, fl)} | "
                     f"{secs(ref, per)} | {ratio(ref, dj)} |")
    return lines


def percall_table(results) -> list[str]:
    """djframe and the hand-written statement alternate call by call in one process (the ratio); djframe
    alone and the reference each ran in their own process."""
    lines = ["| backend | case | djframe (alternating) | hand-written (alternating) | djframe ÷ hand-written (≤ 1.5) "
             "| djframe alone | reference alone | reference ÷ djframe alone |", "|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["backend"], r["case"]) for r in results if r.get("section") == "percall"))
    for backend, case in keys:
        get = lambda c: pick(results, section="percall", backend=backend, case=case, client=c)  # noqa
        dj, fl, ref = get("djframe"), get("same-connection"), get("reference")
        paired = {"seconds": fl["paired_djframe"]} if fl and "paired_djframe" in fl else None
        lines.append(f"| {backend} | {case} | {secs(paired)} | {secs(fl)} | {ratio(paired, fl, TARGETS['percall'])} | {secs(dj)} | "
                     f"{secs(ref)} | {ratio(ref, dj)} |")
    return lines


def read_table(results) -> list[str]:
    from benchmarks.alternatives import READERS
    head = "| backend | case | djframe | raw driver | djframe ÷ raw | reference | reference ÷ djframe | " + \
        " | ".join(f"{c} | ÷ djframe" for c in READERS) + " | djframe peak MB | result MB |"
    lines = [head, "|" + "---|" * (9 + 2 * len(READERS))]
    keys = list(dict.fromkeys((r["backend"], r["case"]) for r in results if r.get("section") == "read"))
    for backend, case in keys:
        get = lambda c: pick(results, section="read", backend=backend, case=case, client=c)  # noqa
        dj = get("djframe")
        alts = " | ".join(f"{secs(get(c)) if get(c) else 'n/a'} | {ratio(get(c), dj)}" for c in READERS)
        lines.append(f"| {backend} | {case} | {secs(dj)} | {secs(get('raw'))} | {ratio(dj, get('raw'))} | "
                     f"{secs(get('reference'))} | {ratio(get('reference'), dj)} | {alts} | "
                     f"{(dj or {}).get('peak_mb', 0):.0f} | {(dj or {}).get('result_mb', 0):.0f} |")
    return lines


def unsupported(results) -> list[str]:
    """Why an alternative has no figure on a backend of this run (n/a in tables 1 and 3)."""
    from benchmarks.alternatives import READERS, WRITERS, unsupported as why
    backends = list(dict.fromkeys(r["backend"] for r in results if r.get("section") in ("insert", "read")))
    reasons = [f"{kind} on {backend}: {why(kind, backend)}" for backend in backends for kind in READERS + WRITERS
               if why(kind, backend)]
    return ["n/a: " + "; ".join(reasons) + "."] if reasons else []


def misc_table(results) -> list[str]:
    lines = ["| backend | case | djframe | raw | reference | reference ÷ djframe | djframe peak MB |",
             "|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["backend"], r["case"]) for r in results if r.get("section") == "misc"))
    for backend, case in keys:
        get = lambda c: pick(results, section="misc", backend=backend, case=case, client=c)  # noqa
        dj = get("djframe")
        lines.append(f"| {backend} | {case} | {secs(dj)} | {secs(get('raw')) if get('raw') else ''} | "
                     f"{secs(get('reference'))} | {ratio(get('reference'), dj)} | {(dj or {}).get('peak_mb', 0):.0f} |")
    return lines


def scale_rows(results):
    return [r for r in results if r.get("section") == "scale" and "seconds" in r]


def scale_table(results) -> list[str]:
    lines = ["| case | rows | djframe | djframe µs/row | raw µs/row | djframe ÷ raw | djframe peak MB | raw peak MB |",
             "|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["case"], r.get("rows_in_table") or r.get("rows")) for r in results
                              if r.get("section") == "scale"))
    for case, rows in sorted(keys, key=lambda k: (("insert", "fetch", "join", "stream").index(k[0]), k[1])):
        get = lambda c: next((r for r in results if r.get("section") == "scale" and r["case"] == case  # noqa
                              and (r.get("rows_in_table") or r.get("rows")) == rows and r["client"] == c), None)
        dj, raw = get("djframe"), get("raw")
        per_row = lambda m: f"{m['seconds'] / rows * 1e6:.2f}" if m and "seconds" in m else "n/a"  # noqa
        lines.append(f"| {case} | {rows:,} | {secs(dj)} | {per_row(dj)} | {per_row(raw)} | {ratio(dj, raw)} | "
                     f"{(dj or {}).get('peak_mb', 0):.0f} | {(raw or {}).get('peak_mb', 0):.0f} |")
    return lines


def blob_table(results) -> list[str]:
    blobs = [r for r in results if r.get("section") == "blobs" and "codec" in r]
    if not blobs:
        errors = [r["error"] for r in results if r.get("section") == "blobs" and "error" in r]
        return [f"(not run{': ' + errors[0] if errors else ''})"]
    lines = ["| codec | op | djframe | reference | reference ÷ djframe | raw fetch of the column |",
             "|---|---|---|---|---|---|"]
    get = lambda codec, client, op: next((r["seconds"] for r in blobs if r["codec"] == codec  # noqa
                                          and r["client"] == client and r["op"] == op), None)
    for codec in dict.fromkeys(r["codec"] for r in blobs):
        for op in ("insert", "fetch"):
            dj, ref, raw = get(codec, "djframe", op), get(codec, "reference", op), get(codec, "raw", op)
            if dj is None:
                continue
            mark = ""
            if codec == "<blob>" and ref:
                mark = " ✓" if ref / dj >= TARGETS["blob"] else " ✗"
            lines.append(f"| `{codec}` | {op} | {dj:.3f} s | {f'{ref:.3f} s' if ref else 'n/a'} | "
                         f"{f'{ref / dj:.2f}{mark}' if ref else ''} | {f'{raw:.3f} s' if raw else ''} |")
    obj, npy = get("<object@bench>", "djframe", "insert"), get("<npy@bench>", "djframe", "insert")
    if obj and npy:
        lines += ["", f"`<object@>` insert ÷ `<npy@>` insert (djframe): {obj / npy:.2f}"]
    return lines


def targets(results) -> list[str]:
    """Each goal of issue 15 with the measured values that decide it."""
    inserts = [r for r in results if r.get("section") == "insert" and r.get("client") == "djframe" and "seconds" in r]
    lines = ["| goal | measured | met |", "|---|---|---|"]
    for table in dict.fromkeys(r["table"] for r in inserts):
        cells, met, total = [], 0, 0
        for dj in (r for r in inserts if r["table"] == table):
            raw = pick(results, section="insert", backend=dj["backend"], table=table, rows=dj["rows"], client="raw")
            if raw and "seconds" in raw:
                value = dj["seconds"] / raw["seconds"]
                met, total = met + (value <= TARGETS["insert"]), total + 1
                cells.append(f"{dj['backend'][:2]} {dj['rows'] // 1000}k {value:.2f}")
        lines.append(f"| insert `{table}` ≤ 1.2× raw | {', '.join(cells)} | {met} of {total} |")
    big = [r for r in inserts if r["rows"] >= 200_000 and r.get("frame_mb")]
    peaks = [f"{r['backend'][:2]} {r['table']} {r['rows'] // 1000}k {r['peak_mb'] / r['frame_mb']:.1f}" for r in big]
    met = sum(r["peak_mb"] / r["frame_mb"] <= TARGETS["peak"] for r in big)
    lines.append(f"| insert peak ≤ 2× the frame (≥ 200k rows) | {', '.join(peaks)} | {met} of {len(big)} |")
    for section, floor, name in (("percall", "same-connection", "per call ≤ 1.5× hand-written (alternating)"),
                                 ("populate", "raw", "populate per key ≤ 1.5× (jobs ≤ 2×) hand-written loop, same statements")):
        cells, met = [], 0
        for r in (r for r in results if r.get("section") == section and r.get("client") == floor and "seconds" in r):
            pair = pick(results, section=section, backend=r["backend"], case=r["case"], client="populate-pair") \
                if section == "populate" else None
            if pair and "paired_djframe" in pair:  # the alternating measurement, where there is one
                r = pair
            dj = {"seconds": r["paired_djframe"]} if "paired_djframe" in r else \
                pick(results, section=section, backend=r["backend"], case=r["case"], client="djframe-unrecorded") \
                or pick(results, section=section, backend=r["backend"], case=r["case"], client="djframe")
            if dj and "seconds" in dj:
                value = dj["seconds"] / r["seconds"]
                met += value <= (TARGETS["percall"] if section == "percall" else per_key_target(r["case"]))
                cells.append(f"{r['backend'][:2]} {r['case']} {value:.2f}")
        lines.append(f"| {name} | {', '.join(cells)} | {met} of {len(cells)} |")
    blobs = {(r["codec"], r["client"], r["op"]): r["seconds"] for r in results if r.get("section") == "blobs"
             and "codec" in r}
    for op in ("insert", "fetch"):
        dj, ref = blobs.get(("<blob>", "djframe", op)), blobs.get(("<blob>", "reference", op))
        if dj and ref:
            lines.append(f"| `<blob>` {op} ≥ 3× the reference | {ref / dj:.2f} | {'yes' if ref / dj >= 3 else 'no'} |")
    obj, npy = blobs.get(("<object@bench>", "djframe", "insert")), blobs.get(("<npy@bench>", "djframe", "insert"))
    if obj and npy:
        lines.append(f"| `<object@>` insert ≤ `<npy@>` insert | {obj / npy:.2f} | {'yes' if obj <= npy else 'no'} |")
    return lines + scale_targets(results)


FLAT = 1.25  # "flat": time per row at no size above this multiple of its value at 100k rows


def scale_targets(results) -> list[str]:
    """Goal 5: djframe's time per row at each size ÷ at 100k rows (10k is fixed-cost bound), and the
    streaming peak at each size."""
    rows = [r for r in scale_rows(results) if r["client"] == "djframe"]
    size = lambda r: r.get("rows_in_table") or r.get("rows")  # noqa: E731
    cells, met, total = [], 0, 0
    for case in dict.fromkeys(r["case"] for r in rows):
        runs = sorted((r for r in rows if r["case"] == case), key=size)
        base = next((r for r in runs if size(r) >= 100_000), None)
        for r in (r for r in runs if base and size(r) > size(base)):
            value = (r["seconds"] / size(r)) / (base["seconds"] / size(base))
            met, total = met + (value <= FLAT), total + 1
            cells.append(f"{case} {size(r) // 1000:,}k {value:.2f}")
    if not total:
        return []
    streams = ", ".join(f"{size(r) // 1000:,}k {r['peak_mb']:.0f} MB"
                        for r in sorted((r for r in rows if r["case"] == "stream"), key=size))
    return [f"| scale: µs/row ÷ µs/row at 100k ≤ {FLAT} (PostgreSQL) | {', '.join(cells)} | {met} of {total} |",
            f"| scale: streaming peak memory flat | {streams} | (read) |"]


def plots(results, folder) -> list[str]:
    """The scale curve: seconds per row, and peak memory, against rows (log-log), djframe and raw."""
    rows = scale_rows(results)
    if not rows:
        return []
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(os.path.join(folder, "plots"), exist_ok=True)
    names = []
    for metric, ylabel, file in (("per_row", "µs per row", "scale_time_per_row.png"),
                                 ("peak_mb", "peak memory (MB)", "scale_peak_memory.png")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for case, colour in zip(("insert", "fetch", "join", "stream"), ("C0", "C1", "C2", "C3")):
            for client, style in (("djframe", "-o"), ("raw", "--x")):
                pts = sorted(((r.get("rows_in_table") or r["rows"]), r) for r in rows
                             if r["case"] == case and r["client"] == client)
                if not pts:
                    continue
                xs = [n for n, _ in pts]
                ys = [r["seconds"] / n * 1e6 if metric == "per_row" else max(r["peak_mb"], 0.1) for n, r in pts]
                ax.plot(xs, ys, style, color=colour, label=f"{case} {client}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel(ylabel)
        ax.set_title(f"PostgreSQL: {ylabel} (djframe solid, raw ADBC dashed)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(os.path.join(folder, "plots", file), dpi=110)
        plt.close(fig)
        names.append(file)
    return [f"![{n}](plots/{n})" for n in names]


def markdown(results, args, machine, folder) -> str:
    sections = [
        "# Benchmark results (issue 15)", "",
        f"`python -m benchmarks.run` — {machine}. Every measurement in a fresh process; medians of "
        f"{args['reps']} runs (reference, SQLAlchemy, DB-API and ibis-insert clients: one run). The machine is "
        "shared and noisy: the ratios, taken side by side in this run, are what to read. Raw measurements: "
        "`benchmarks/results.json`; profiles and what to change: `benchmarks/PROFILE.md`; earlier runs: "
        "`benchmarks/HISTORY.md`.", "",
        "## Against the targets", "", *targets(results), "",
        "## 1. Frame insert vs the raw bulk path",
        "Raw bulk path: ADBC `adbc_ingest` (PostgreSQL), `LOAD DATA LOCAL INFILE` of an Arrow-written CSV "
        "(MariaDB), `sqlite3.executemany` in one transaction (SQLite). `big`: int64 key, int32 (a foreign "
        "key), 2 × float64, varchar(32), date. `mixed`: int64 key, two varchars (one nullable, a third "
        "null), date, decimal(12,2), float64. Peak: resident memory the insert added above the frame "
        "already in memory (VmHWM reset just before the call), divided by the frame's size for the ratio. At "
        "20k rows the fixed cost of the first insert in a process (imports, driver buffers) dominates it.", "", *insert_table(results), "",
        "## 2. Per-call floor and populate",
        "Per call: median of single calls; floor = the hand-written parameterised statement on djframe's "
        "own driver connection, alternating call by call with the same djframe call in one process (a commit's "
        "fsync on this shared disk varies by a factor of several from minute to minute). Populate: seconds per key of populating `Dst` from `Src` (make = one "
        "insert1); the raw loop does per key what populate does (its own transaction, a check the key is "
        "still missing, the insert; with jobs also the reservation UPDATE and the job's DELETE). djframe's populate "
        "also records, per made key, the row's code version and input digests (`T.stale()`, one statement more); "
        "the same-statements column runs it with that recording off.", "",
        *percall_table(results), "",
        *populate_table(results), "",
        "## 3. Reading: djframe, the raw driver, the reference, and what a user would pick instead",
        f"`big` holds {args['fetch_rows']:,} rows. fetch = the whole table into Polars; join = "
        "`((Big & 'x > 0.5') * (Grp & \"label < 'g050'\")).proj('x', 's', 'label')`; the Polars readers run "
        "the same join as SQL, `ibis.to_polars` as an ibis expression (`filter`, `join` on `a`, `select`) "
        "with `.to_polars()`.", "",
        *read_table(results), "", *unsupported(results), "",
        "Insert alternatives are in table 1 (`pl.write_database`, `ibis.insert`).", "",
        *misc_table(results), "",
        "## 4. Arrays (bench_blobs.py, PostgreSQL, file store)",
        f"{args['blob_rows']:,} rows × {args['blob_size']:,} float64, medians of {args['blob_repeat']}.", "",
        *blob_table(results), "",
        "## 5. Scale curve (PostgreSQL)", "", *scale_table(results), "", *plots(results, folder),
    ]
    return "\n".join(sections)


if __name__ == "__main__":
    data = json.load(open(sys.argv[1]))
    folder = os.path.dirname(os.path.abspath(__file__))
    text = markdown(data["results"], data["args"], data["machine"], folder)
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(folder, "RESULTS.md")  # a second argument: elsewhere
    open(out, "w").write(text + "\n")
    print(text)

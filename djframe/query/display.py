"""Text and HTML previews of query results (repr and Jupyter).

A preview fetches only the first ``display.limit`` + 1 rows, in primary-key
order, and never the large columns: blobs, codec and JSON attributes are
shown as placeholders (``<blob>``, ``bytes``, ``json``) without being read.
The total count is one more query (``display.show_tuple_count``).
"""

from __future__ import annotations

import html

from djframe.query.fetch import fetch_table

_CSS = """<style>
.djframe-preview table {border-collapse: collapse; font-size: 80%}
.djframe-preview th, .djframe-preview td {padding: 2px 6px; border: 1px solid #ddd; font-family: monospace}
.djframe-preview th.pk {font-weight: bold; text-decoration: underline}
.djframe-preview th {font-weight: normal; background: #eee}
</style>"""


def _settings(expr):
    config = expr.connection.config
    return config["display.limit"], config["display.width"], config["display.show_tuple_count"]


def placeholder(attr) -> str | None:
    """The text shown instead of a large value (None: the value itself is shown)."""
    if attr.type.kind == "codec":
        return f"<{attr.type.codec}>"
    if attr.type.kind == "bytes":
        return "bytes"
    if attr.type.kind == "json":
        return "json"
    return None


def _text(value) -> str:
    return "NULL" if value is None else str(value)


def preview_rows(expr, limit: int):
    """(names, rows as text, more rows exist): the first rows in key order, large columns not fetched."""
    heading = expr.heading
    names = heading.names
    small = [nm for nm in names if placeholder(heading[nm]) is None]
    order = "KEY" if expr.primary_key else None
    table = fetch_table(expr, small, order_by=order, limit=limit + 1) if small else None
    n = table.num_rows if table is not None else min(limit + 1, len(expr))
    columns = {nm: table.column(nm).to_pylist() for nm in small} if table is not None else {}
    rows = [[_text(columns[nm][i]) if nm in columns else placeholder(heading[nm]) for nm in names]
            for i in range(n)]
    return names, rows[:limit], n > limit


def preview(expr, limit=None, width=None) -> str:
    """A compact text table: primary key marked with *, first rows, total count."""
    default_limit, default_width, show_count = _settings(expr)
    limit, width = limit or default_limit, width or default_width
    names, rows, more = preview_rows(expr, limit)
    key = set(expr.primary_key)
    header = ["*" + nm if nm in key else nm for nm in names]
    widths = [min(max([len(h)] + [len(r[i]) for r in rows]) + 2, width) for i, h in enumerate(header)]

    def line(cells):
        return " ".join(c[:w].ljust(w) if len(c) <= w else c[: w - 3] + "..." for c, w in zip(cells, widths))

    out = [line(header), " ".join("+" + "-" * (w - 2) + "+" for w in widths)]
    out += [line(r) for r in rows]
    if more:
        out.append("   ...")
    if show_count:
        out.append(f" (Total: {len(expr)})")
    return "\n".join(out) + "\n"


def html_preview(expr) -> str:
    """The same preview as an HTML table for notebooks (primary key underlined and bold)."""
    limit, _, show_count = _settings(expr)
    names, rows, more = preview_rows(expr, limit)
    key = set(expr.primary_key)
    heading = expr.heading
    head = "".join(f"<th{' class=pk' if nm in key else ''} title=\"{html.escape(heading[nm].comment or '')}\">"
                   f"{html.escape(nm)}</th>" for nm in names)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in rows)
    tail = ("<p>...</p>" if more else "") + (f"<p>Total: {len(expr)}</p>" if show_count else "")
    return (f"{_CSS}<div class='djframe-preview'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{tail}</div>")

"""Text and HTML previews of query results (repr and Jupyter)."""

from __future__ import annotations

import html

from .query.fetch import fetch_table


def _settings():
    from .settings import config
    return config["display.limit"], config["display.width"], config["display.show_tuple_count"]


def _cell(value, attr) -> str:
    if value is None:
        return "NULL"
    if attr.type.kind == "codec":
        return f"<{attr.type.codec}>"
    if attr.type.kind == "bytes":
        return "bytes"
    if attr.type.kind == "json":
        return "json"
    return str(value)


def _rows(expr, limit):
    names = [n for n in expr.heading.names]
    table = fetch_table(expr, names, order_by="KEY" if expr.primary_key else None, limit=limit + 1)
    rows = [[_cell(v, expr.heading[n]) for n, v in zip(names, row)]
            for row in zip(*(table.column(n).to_pylist() for n in names))] if names else []
    return names, rows


def preview(expr, limit=None, width=None) -> str:
    """A compact text table: primary key marked with *, first rows, total count."""
    default_limit, default_width, show_count = _settings()
    limit, width = limit or default_limit, width or default_width
    names, rows = _rows(expr, limit)
    key = set(expr.primary_key)
    header = ["*" + nm if nm in key else nm for nm in names]
    fmt = lambda s: (s if len(s) <= width else s[: width - 3] + "...").ljust(width)  # noqa: E731
    lines = ["  ".join(fmt(h) for h in header), "  ".join("+" + "-" * (width - 1) for _ in header)]
    lines += ["  ".join(fmt(v) for v in row) for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(" ...")
    if show_count:
        lines.append(f" (Total: {len(expr)})")
    return "\n".join(lines) + "\n"


def html_preview(expr) -> str:
    """The same preview as an HTML table for notebooks."""
    limit, _, show_count = _settings()
    names, rows = _rows(expr, limit)
    key = set(expr.primary_key)
    underline = ' style="text-decoration:underline"'
    head = "".join(f"<th{underline if nm in key else ''}>{html.escape(nm)}</th>" for nm in names)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows[:limit])
    more = "<p>...</p>" if len(rows) > limit else ""
    total = f"<p>Total: {len(expr)}</p>" if show_count else ""
    return (f"<div class='djframe-preview'><table border='1'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{more}{total}</div>")

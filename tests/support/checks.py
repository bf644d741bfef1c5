"""Assertions the test files share: a clean DataJointError, and a snapshot of a schema's row counts."""

import re


ADVICE = re.compile(
    r"\b(use|pass|set|give|provide|declare|remove|rename|choose|insert|delete|drop|define|move|add|shorten|"
    r"restrict|check|convert|write|encode|put|keep|commit|cancel|run|correct|restore|project|widen|make|call|"
    r"reference)\b", re.I)


def assert_clean_error(error, cls, *fragments):
    """The message names the table, the attribute and the value (`fragments`) and says what to do."""
    text = str(error)
    assert type(error) is cls, f"expected {cls.__name__}, got {type(error).__name__}: {text}"
    for fragment in fragments:
        assert str(fragment) in text, f"{fragment!r} is not named in: {text}"
    assert ADVICE.search(text), f"the message does not say what to do: {text}"


def snapshot(conn, schema_name):
    """{table: row count} of every table of the schema, hidden ones included."""
    backend = conn.backend
    return {t: backend.count(backend.full_name(schema_name, t)) for t in sorted(backend.list_tables(schema_name))}

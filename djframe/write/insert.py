"""The write path as one forward pipeline: rows -> Arrow (validated against the heading) -> codecs ->
core types -> the backend's bulk ingest, in one transaction.

`target` is the table written (a `djframe.Table`): its connection, heading, names and `keys_exist`.
Table.insert, restore and populate all end here.
"""

from __future__ import annotations

import contextlib
import contextvars
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from djframe.codecs.pipeline import store_writes
from djframe.errors import DataJointError, DuplicateError, IntegrityError, MissingAttributeError, UnknownAttributeError
from djframe.query.compile import Compiler
from djframe.write import explain as write_errors
from djframe.write.conform import add_defaults, conform, conform_columns, rows_to_arrow
from djframe.write.encode import row_keys
from djframe.write.provenance import COLUMN as PROVENANCE_COLUMN, has_provenance, with_provenance


def insert_rows(target, rows, *, replace=False, skip_duplicates=False, ignore_extra_fields=False,
                chunk_size=None, provenance=False) -> None:
    """Rows of any accepted form through every stage once; objects written to stores are removed again
    if a later stage fails."""
    heading, name = target.heading, target.full_table_name
    table = rows_to_arrow(rows, heading, name, ignore_extra_fields=ignore_extra_fields)
    if not table.num_rows:
        return
    check_primary_key_given(target, table.column_names)
    if skip_duplicates and any(a.store is not None for a in heading.attributes.values()):
        table = new_keys_only(target, table)  # no objects written for rows that will be skipped
        if not table.num_rows:
            return
    if chunk_size is None and overlaps_encoding(heading, table):
        with store_writes(target):
            insert_overlapped(target, table, replace=replace, skip_duplicates=skip_duplicates, provenance=provenance)
        return
    with store_writes(target) if heading.has_codecs else contextlib.nullcontext():
        data = completed(target, conform(table, heading, name, target.connection.backend), provenance,
                         replace, skip_duplicates)
        ingest(target, data, replace=replace, skip_duplicates=skip_duplicates, chunk_size=chunk_size)


def completed(target, data: pa.Table, provenance: bool, replace: bool, skip_duplicates: bool) -> pa.Table:
    """Conformed rows with what the load adds: provenance columns, and with replace or skip_duplicates
    the defaults a clash on the key must see."""
    if provenance:
        data = with_provenance(data, target.connection)
    return with_defaults(target, data, replace) if replace or skip_duplicates else data


OVERLAP_MIN_ROWS = 256  # rows of in-table codec values worth encoding on a second thread
OVERLAP_SLICES = 8  # the first slice's encoding and the last one's load do not overlap: 1/8 each


def overlaps_encoding(heading, table) -> bool:
    """In-table codecs (`<blob>`: serialise + zlib) cost more than the load itself, and need neither
    the database nor a store: worth encoding slice n+1 while slice n loads. Not with a store codec
    (object writes), nor with a server-time default (the clock reads the database)."""
    if table.num_rows < OVERLAP_MIN_ROWS:
        return False
    attributes = [heading[name] for name in table.column_names]
    return (any(a.type.kind == "codec" for a in attributes)
            and all(a.type.store is None for a in heading.attributes.values())
            and not any(a.default_is_expression for a in heading.attributes.values()))


def insert_overlapped(target, table, *, replace, skip_duplicates, provenance):
    """One transaction; the codec columns encoded slice by slice on a background thread (zlib releases
    the GIL) while the main thread loads the previous slice. The other columns are checked whole first,
    so a bad value is found before anything loads."""
    heading, name, backend = target.heading, target.full_table_name, target.connection.backend
    codecs = [n for n in table.column_names if heading[n].type.kind == "codec"]
    checked = conform(table, heading, name, backend, deferred=set(codecs))
    step = max(OVERLAP_MIN_ROWS // 2, -(-table.num_rows // OVERLAP_SLICES))
    starts = list(range(0, table.num_rows, step))

    def encode(start):
        return conform_columns(table.slice(start, step), codecs, heading, name, backend, first_row=start)

    def ahead(start):  # the store session (a context variable) is seen by the codecs on the other thread
        return pool.submit(contextvars.copy_context().run, encode, start)

    with target.connection.atomic(), ThreadPoolExecutor(max_workers=1) as pool:
        pending = ahead(starts[0])
        for i, start in enumerate(starts):
            encoded = pending.result()
            if i + 1 < len(starts):
                pending = ahead(starts[i + 1])
            piece = checked.slice(start, step)
            for column, array in zip(codecs, encoded):
                piece = piece.append_column(column, array)
            data = completed(target, piece.select(table.column_names), provenance, replace, skip_duplicates)
            ingest(target, data, replace=replace, skip_duplicates=skip_duplicates)


def insert_plain(target, names, values, rows):
    """A few rows already valid as they are (see validate.plain_rows): one INSERT."""
    backend = target.connection.backend
    try:
        with contextlib.nullcontext() if not target.connection.in_transaction else target.connection.atomic():
            backend.insert_rows(target.database, target.table_name, names, values)
    except (DuplicateError, IntegrityError) as e:
        data = conform(rows_to_arrow(rows, target.heading, target.full_table_name), target.heading,
                       target.full_table_name, backend)
        if isinstance(e, DuplicateError):
            raise DuplicateError(write_errors.duplicate_message(target, data, e)) from None
        raise IntegrityError(write_errors.missing_parent_message(target, data, e)) from None


def insert_from_query(target, query, replace, skip_duplicates, ignore_extra_fields):
    """INSERT ... SELECT: the rows never leave the database."""
    if query.connection is not target.connection:
        raise DataJointError(f"Cannot insert into {target.full_table_name} from a query on another connection; "
                             "fetch the rows and insert them instead.")
    names = [x for x in query.heading.names if x in target.heading.names]
    extra = [x for x in query.heading.names if x not in target.heading.names]
    if extra and not ignore_extra_fields:
        raise UnknownAttributeError(f"Cannot insert into {target.full_table_name} from the query: attribute(s) "
                                    f"{extra} not in the table heading. Project them away or pass "
                                    "ignore_extra_fields=True.")
    check_primary_key_given(target, names)
    missing = [a.name for a in target.heading.all_attributes if a.required and not a.hidden and a.name not in names]
    if missing:
        raise MissingAttributeError(f"Cannot insert into {target.full_table_name} from the query: required "
                                    f"attribute(s) {missing} are not in the query. Add them with .proj().")
    backend = target.connection.backend
    if has_provenance(target.heading) and has_provenance(query.heading):  # rows keep where they came from
        names = names + [PROVENANCE_COLUMN]
    select = Compiler(backend).sql(query.node, names)
    try:
        with target.connection.atomic():
            backend.insert_select(target.database, target.table_name, names, select, skip_duplicates=skip_duplicates,
                                  replace=replace, primary_key=stored_key(target))
    except DuplicateError as e:
        raise DuplicateError(write_errors.query_duplicate_message(target, query, e)) from None
    except IntegrityError as e:
        raise IntegrityError(f"Cannot insert into {target.full_table_name} from the query: some rows reference "
                             f"parent rows that do not exist ({e}). Restrict the query to rows whose parents "
                             "exist, or insert the parents first.") from None


def insert_defaults(target, count: int):
    """Rows given as empty dicts: each takes every attribute's default (auto_increment, NULL, ...)."""
    required = [a.name for a in target.heading.all_attributes
                if not a.hidden and (a.required or a.in_key and not a.autoincrement and not a.has_default)]
    if required:
        raise MissingAttributeError(f"Cannot insert empty row into {target.full_table_name}: attribute(s) "
                                    f"{', '.join(required)} require values (they have no default). Give them "
                                    "in the row.")
    with target.connection.atomic():
        for _ in range(count):
            target.connection.backend.insert_default_row(target.database, target.table_name)


def new_keys_only(target, rows: pa.Table) -> pa.Table:
    """The rows whose primary key is neither in the table nor earlier in ``rows``."""
    keys = row_keys(rows, target.heading, target.connection.backend, target.full_table_name + ".key")
    seen, keep = set(), []
    for key, exists in zip(keys, target.keys_exist(keys)):
        marker = tuple(map(repr, key.values()))
        keep.append(not exists and marker not in seen)
        seen.add(marker)
    return rows.filter(pa.array(keep, pa.bool_()))


def with_defaults(target, data: pa.Table, replace: bool) -> pa.Table:
    """Give omitted key attributes (a singleton's hidden key) their defaults, so a clash on the key can
    be found; with replace also the secondary ones: the new row replaces the stored one whole."""
    omitted = [a for a in target.heading.all_attributes if a.name not in data.column_names
               and (a.in_key or replace and not a.hidden)]
    return add_defaults(data, omitted, target.full_table_name, target.connection.backend)


def check_primary_key_given(target, names):
    missing = [k for k in target.primary_key if k not in names and not target.heading[k].autoincrement]
    if missing:
        raise MissingAttributeError(f"Cannot insert into {target.full_table_name}: primary-key attribute(s) "
                                    f"{missing} not given. Give every row its full primary key.")





def stored_key(target) -> list[str]:
    """The primary key as stored, hidden attributes (a singleton's) included."""
    return [a.name for a in target.heading.all_attributes if a.in_key]


def ingest(target, data: pa.Table, replace=False, skip_duplicates=False, chunk_size=None):
    backend, heading = target.connection.backend, target.heading
    stored = pa.Table.from_arrays([backend.to_storage(column, heading[name]) for name, column
                                   in zip(data.column_names, data.columns)], names=data.column_names)
    step = max(int(chunk_size or stored.num_rows), 1)
    one_statement = (not target.connection.in_transaction and step >= stored.num_rows  # atomic by itself
                     and backend.ingest_is_one_statement(stored, skip_duplicates, replace))
    try:
        with contextlib.nullcontext() if one_statement else target.connection.atomic():
            for start in range(0, stored.num_rows, step):
                backend.ingest(target.database, target.table_name,
                               stored if step >= stored.num_rows else stored.slice(start, step),
                               skip_duplicates=skip_duplicates, replace=replace, primary_key=stored_key(target))
    except DuplicateError as e:
        raise DuplicateError(write_errors.duplicate_message(target, data, e)) from None
    except IntegrityError as e:
        raise IntegrityError(write_errors.missing_parent_message(target, data, e)) from None

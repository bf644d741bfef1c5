"""Definitions: table definition text <-> `TableSpec` (types, heading, declare) and the spec rebuilt
from a database catalog (catalog). Pure: no I/O, so a definition is checked before anything is sent."""

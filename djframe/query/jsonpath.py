"""JSON path keys: ``attr.path[:type]`` names a value inside a json attribute.

``T & {"meta.subject.age:int": 12}`` restricts by it and ``T.proj(age="meta.subject.age:int")``
computes it, as in DataJoint 2.x. Path steps are object keys (identifiers) and array indices
(``car.headlights[0].hyper_white``); the optional type
casts the value (``int``, ``float``, ``str``, or a core integer/float type name). Without a type
the value is compared as text. Each dialect renders the extraction (Dialect.json_path_sql).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from djframe.backends.dialect import path_text
from djframe.errors import DataJointError

_PATH = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*)+)"
                   r"(?::\s*([A-Za-z0-9_]+))?\s*$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
CASTS = {"int": "int", "float": "float", "str": "str", "text": "str", "varchar": "str",
         **{f"int{n}": "int" for n in (8, 16, 32, 64)}, **{f"uint{n}": "int" for n in (8, 16, 32, 64)},
         "float32": "float", "float64": "float"}


@dataclass(frozen=True)
class JsonPath:
    attribute: str
    steps: tuple[str | int, ...]  # object keys, and array indices as ints (``a.b[0].c``)
    cast: str  # int | float | str

    def literal_value(self, value):
        """The compared value in the cast's Python type (a clear error when it is not one)."""
        try:
            return {"int": int, "float": float, "str": str}[self.cast](value)
        except (TypeError, ValueError):
            raise DataJointError(f"JSON path `{self}`: cannot compare with {value!r} as {self.cast}.") from None

    def __str__(self):
        return f"{self.attribute}{path_text(self.steps)[1:]}:{self.cast}"


def parse_json_path(text, heading) -> JsonPath | None:
    """The JSON path ``text`` names in ``heading`` (its attribute must be json), else None."""
    match = _PATH.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    attr = heading.get(match.group(1))
    if attr is None or attr.type.kind != "json":
        return None
    cast = (match.group(3) or "str").lower()
    if cast not in CASTS:
        raise DataJointError(f"JSON path `{text}`: unknown type `{cast}`; use int, float or str "
                             "(or an integer/float core type such as int32 or float64).")
    steps = tuple(key if key else int(index) for key, index in _STEP.findall(match.group(2)))
    return JsonPath(match.group(1), steps, CASTS[cast])

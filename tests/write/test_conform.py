"""The whole-column conversions of write/conform give exactly what the per-value path gives.

No database: `convert_column` turns one column into its attribute's Arrow type. Decimal and integer
Arrow columns take Arrow kernels; Python values take the per-value path. Both must store the same
values and refuse the same ones.
"""

import decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from djframe.backends.sqlite.dialect import SQLiteDialect
from djframe.define.heading import Attribute
from djframe.define.types import parse_type
from djframe.errors import InvalidValueError
from djframe.write.conform import convert_column

NUMERIC = Attribute(name="amount", type=parse_type("decimal(8,2)"), nullable=True)


class NoBackend:
    """convert_column asks a backend only for special cases (none for decimals)."""
    dialect = SQLiteDialect()


def convert(values):
    return convert_column(values, NUMERIC, "lab.item", NoBackend())


def per_value(values):
    return convert(list(values.to_pylist()) if isinstance(values, pa.Array) else values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.decimals(min_value=-999999, max_value=999999, places=4,
                                                 allow_nan=False, allow_infinity=False)), max_size=30))
def test_a_decimal_column_is_rounded_as_quantize_rounds(values):
    arrow = pa.array(values, pa.decimal128(12, 4))
    expected = per_value(values)
    assert convert(arrow).equals(expected)
    assert convert(arrow).type == pa.decimal128(8, 2)


@pytest.mark.parametrize("value", ["2.675", "-1.005", "0.125", "-0.135", "999999.994"])
def test_halves_round_to_even(value):
    arrow = pa.array([decimal.Decimal(value)], pa.decimal128(10, 3))
    assert convert(arrow).to_pylist() == per_value([decimal.Decimal(value)]).to_pylist()


@pytest.mark.parametrize("values, arrow_type", [
    ([decimal.Decimal("999999.995")], pa.decimal128(10, 3)),  # rounds up to the limit
    ([decimal.Decimal("-1000000.00")], pa.decimal128(10, 2)),
    ([1_000_000], pa.int64()),
    ([-2 ** 63], pa.int64()),  # its absolute value overflows int64
])
def test_out_of_range_is_refused_naming_the_value(values, arrow_type):
    with pytest.raises(InvalidValueError, match=r"lab\.item.*row 0.*decimal\(8,2\)"):
        convert(pa.array(values, arrow_type))


@given(st.lists(st.one_of(st.none(), st.integers(min_value=-999_999, max_value=999_999)), max_size=30))
def test_an_integer_column_is_cast_exactly(values):
    arrow = pa.array(values, pa.int64())
    assert convert(arrow).equals(per_value(values))

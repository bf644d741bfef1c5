"""The restriction-propagation engine (graph/restrict.py) on its own, on every backend.

A diamond with a renamed foreign key: Lab -> Person (as `member`), Lab -> Room, and
Booking references both Person and Room. Rows are small enough to state every expected
set by hand.
"""

import pytest

import djframe as dj
from djframe.graph.restrict import ALL, ANY, DOWN, UP, TableRows, own_condition, propagate, referenced, table_rows
from djframe.query import conditions as c


@pytest.fixture
def diamond(schema):
    @schema
    class Lab(dj.Manual):
        definition = """
        lab : int32
        """

    @schema
    class Person(dj.Manual):
        definition = """
        person : int32
        ---
        -> Lab.proj(member='lab')
        """

    @schema
    class Room(dj.Manual):
        definition = """
        -> Lab
        room : int32
        """

    @schema
    class Booking(dj.Manual):
        definition = """
        -> Person
        -> Room
        """

    Lab.insert([{"lab": 1}, {"lab": 2}])
    Person.insert([{"person": 10, "member": 1}, {"person": 20, "member": 2}])
    Room.insert([{"lab": 1, "room": 1}, {"lab": 2, "room": 1}])
    Booking.insert([{"person": 10, "lab": 1, "room": 1}, {"person": 10, "lab": 2, "room": 1},
                    {"person": 20, "lab": 2, "room": 1}])
    return Lab, Person, Room, Booking


def node(table):
    return (table.database, table.table_name)


def keys(connection, reached, table, attrs):
    rows = table_rows(connection, node(table), reached[node(table)])
    return sorted(tuple(r[a] for a in attrs) for r in rows.to_dicts())


def test_down_any_reaches_through_renamed_keys(diamond):
    Lab, Person, Room, Booking = diamond
    connection = Lab.connection
    reached = propagate(connection, {node(Lab): own_condition(Lab & {"lab": 1})}, DOWN)
    assert list(reached) == connection.dependencies.descendants(node(Lab))  # parents first
    assert keys(connection, reached, Person, ["person"]) == [(10,)]  # member = 1, through the rename
    assert keys(connection, reached, Room, ["lab", "room"]) == [(1, 1)]
    # a booking goes when its person OR its room goes
    assert keys(connection, reached, Booking, ["person", "lab"]) == [(10, 1), (10, 2)]


def test_down_all_needs_every_restricted_parent(diamond):
    Lab, Person, Room, Booking = diamond
    connection = Lab.connection
    shown = {node(t) for t in diamond}
    reached = propagate(connection, {node(Lab): own_condition(Lab & {"lab": 1})}, DOWN, match=ALL, within=shown)
    assert keys(connection, reached, Booking, ["person", "lab"]) == [(10, 1)]


def test_up_any_gives_the_referenced_rows(diamond):
    Lab, Person, Room, Booking = diamond
    connection = Lab.connection
    seed = Booking & {"person": 20}
    reached = propagate(connection, {node(Booking): own_condition(seed)}, UP)
    assert list(reached)[0] == node(Booking)  # children first
    assert keys(connection, reached, Person, ["person"]) == [(20,)]
    assert keys(connection, reached, Room, ["lab", "room"]) == [(2, 1)]
    assert keys(connection, reached, Lab, ["lab"]) == [(2,)]  # through Room and through Person's `member`


def test_through_replaces_what_an_edge_passes_on(diamond):
    """A hook may pass its own condition through one edge (or none: the neighbour is not reached)."""
    Lab, Person, Room, Booking = diamond
    connection = Lab.connection

    def only_rooms(other, condition, fk):
        if other == node(Booking) and fk.parent_table == Room.table_name:
            return referenced(table_rows(connection, other, condition), fk, UP)
        return None

    reached = propagate(connection, {node(Booking): own_condition(Booking & {"person": 20})}, UP,
                        through=only_rooms, match=ANY)
    assert node(Person) not in reached
    assert keys(connection, reached, Room, ["lab", "room"]) == [(2, 1)]
    assert node(Lab) not in reached  # Room passed nothing on: the hook refuses every other edge


def test_table_rows_stay_table_rows_when_restricted(diamond):
    Lab, *_ = diamond
    rows = table_rows(Lab.connection, node(Lab), own_condition(Lab & {"lab": 2}))
    again = rows & {"lab": 2}
    assert isinstance(again, TableRows) and again.graph_node == node(Lab)
    assert again.full_table_name == Lab.full_table_name and again.tier == "manual"
    assert len(again) == 1 and len(rows.proj()) == 1 and not isinstance(rows.proj(), TableRows)
    assert isinstance(own_condition(Lab()), c.TrueCond)

"""JSON path keys ``attr.path[:type]``: restriction by a dict and projection, on every backend."""

import pytest

import djframe as dj
from djframe.errors import DataJointError


@pytest.fixture
def notes(schema):
    @schema
    class Note(dj.Manual):
        definition = """
        nid : int32
        ---
        meta = null : json
        label = '' : varchar(16)
        """
    Note.insert([
        {"nid": 1, "meta": {"subject": {"age": 12, "name": "ann"}, "score": 0.5, "tag": "x"}, "label": ""},
        {"nid": 2, "meta": {"subject": {"age": 30, "name": "bob"}, "score": 1.5, "tag": "y"}, "label": ""},
        {"nid": 3, "meta": {"subject": {"name": "cy"}, "score": None, "tag": "it's"}, "label": ""},
        {"nid": 4, "meta": None, "label": "none"},
    ])
    return Note


def ids(query):
    return sorted(r["nid"] for r in query.to_dicts())


def test_dict_keys_reach_into_json(notes):
    Note = notes
    assert ids(Note & {"meta.subject.age:int": 12}) == [1]
    assert ids(Note & {"meta.subject.age:int32": "30"}) == [2]  # the value is cast as the path says
    assert ids(Note & {"meta.subject.name": "bob"}) == [2]  # no type: compared as text
    assert ids(Note & {"meta.tag": "it's"}) == [3]  # quoted like any literal
    assert ids(Note & {"meta.score:float": 1.5}) == [2]
    assert ids(Note & {"meta.subject.age:int": None}) == [3, 4]  # missing, null or no document
    assert ids(Note - {"meta.subject.age:int": 12}) == [2]  # SQL NOT: an unknown age is not "not 12"
    assert ids(Note & [{"meta.tag": "x"}, {"meta.tag": "y"}]) == [1, 2]
    assert ids(Note & {"meta.subject.age:int": 12, "label": ""}) == [1]
    assert ids(Note & {"label.x": 1}) == [1, 2, 3, 4]  # not a json attribute: ignored, like unknown keys


def test_projection_of_json_values(notes):
    Note = notes
    rows = {r["nid"]: r for r in Note.proj(age="meta.subject.age:int", who="meta.subject.name",
                                           score="meta.score:float").to_dicts()}
    assert rows[1] == {"nid": 1, "age": 12, "who": "ann", "score": 0.5}
    assert rows[3]["age"] is None and rows[3]["score"] is None and rows[4]["who"] is None
    adults = Note.proj(age="meta.subject.age:int") & "age >= 18"
    assert ids(adults) == [2]
    frame = Note.proj(age="meta.subject.age:int64").to_polars().sort("nid")
    assert frame["age"].to_list() == [12, 30, None, None]


def test_bad_json_paths(notes):
    with pytest.raises(DataJointError, match="unknown type `bool`"):
        notes & {"meta.flag:bool": True}
    with pytest.raises(DataJointError, match="cannot compare with 'old' as int"):
        notes & {"meta.subject.age:int": "old"}


def test_array_indices_in_paths(schema):
    @schema
    class Car(dj.Manual):
        definition = """
        name : varchar(16)
        ---
        car = null : json
        """
    Car.insert([{"name": "a", "car": {"lights": [{"white": True}, {"white": False}], "wheels": [[1, 2], [3, 4]]}},
                {"name": "b", "car": {"lights": [{"color": "red"}]}},
                {"name": "c", "car": None}])
    names = lambda q: sorted(r["name"] for r in q.to_dicts())  # noqa: E731
    assert names(Car & {"car.lights[0].color": "red"}) == ["b"]
    assert names(Car & {"car.lights[0].white": None}) == ["b", "c"]
    assert names(Car & {"car.wheels[1][0]:int": 3}) == ["a"]
    assert Car.proj(second="car.lights[1].white").to_dicts(order_by="name")[1]["second"] is None

"""The reference's module paths user code imports (``datajoint.blob``, ``datajoint.builtin_codecs`` ...)
exist in djframe as real modules, and the classes they give are the ones fetch returns."""

import importlib

import numpy as np
import pytest

import djframe as dj

# module path -> names user code imports from it
PATHS = {
    "errors": ["DataJointError", "DuplicateError", "AccessError", "MissingAttributeError"],
    "heading": ["Heading", "Attribute", "default_attribute_properties"],
    "lineage": ["get_table_lineages", "get_lineage", "delete_table_lineages", "insert_lineages",
                "get_schema_lineages", "lineage_table_exists"],
    "builtin_codecs": ["NpyCodec", "NpyRef", "SchemaCodec", "ObjectCodec", "BlobCodec", "HashCodec",
                       "AttachCodec", "FilepathCodec"],
    "builtin_codecs.object": ["ObjectCodec", "SchemaCodec"],
    "builtin_codecs.npy": ["NpyCodec", "NpyRef"],
    "builtin_codecs.blob": ["BlobCodec"],
    "builtin_codecs.hash": ["HashCodec"],
    "builtin_codecs.attach": ["AttachCodec"],
    "builtin_codecs.filepath": ["FilepathCodec"],
    "builtin_codecs.schema": ["SchemaCodec"],
    "blob": ["pack", "unpack", "MatCell", "MatStruct", "use_32bit_dims"],
    "utils": ["from_camel_case", "is_camel_case", "to_camel_case"],
    "table": ["Table", "FreeTable"],
    "storage": ["build_object_path", "generate_token", "encode_pk_value"],
    "objectref": ["ObjectRef"],
    "hash_registry": ["compute_hash", "build_hash_path", "get_store_backend", "put_hash", "get_hash",
                      "delete_path"],
    "codecs": ["Codec", "get_codec", "resolve_dtype", "_codec_registry"],
    "user_tables": ["UserTable", "Manual", "Lookup", "Imported", "Computed", "Part"],
    "migrate": [],
    "deploy": [],
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_module_path_is_a_real_module(path):
    module = importlib.import_module(f"djframe.{path}")
    missing = [n for n in PATHS[path] if not hasattr(module, n)]
    assert not missing, f"djframe.{path} lacks {missing}"


def test_re_exports_are_the_same_objects():
    from djframe.builtin_codecs import NpyRef, ObjectCodec
    from djframe.builtin_codecs.object import ObjectCodec as ObjectCodec2
    from djframe.objectref import ObjectRef
    from djframe.user_tables import Manual, UserTable
    assert NpyRef is dj.NpyRef and ObjectRef is dj.ObjectRef and ObjectCodec is ObjectCodec2
    assert type(dj.get_codec("object")) is ObjectCodec and Manual is dj.Manual and issubclass(Manual, UserTable)
    from djframe.codecs import _codec_registry, get_codec
    assert _codec_registry["blob"] is get_codec("blob")


def test_blob_settings_reach_the_reader():
    """``dj.blob.use_32bit_dims`` set on the public module changes how blobs are read."""
    from djframe.blob import unpack
    old = b"mYm\0A" + (2).to_bytes(4, "little") + (1).to_bytes(4, "little") + (2).to_bytes(4, "little") \
        + (6).to_bytes(4, "little") + (0).to_bytes(4, "little") + np.array([1.5, 2.5]).tobytes()
    with pytest.raises(dj.DataJointError):
        unpack(old)
    dj.blob.use_32bit_dims = True
    try:
        assert np.array_equal(unpack(old), [[1.5, 2.5]])
    finally:
        dj.blob.use_32bit_dims = False


def test_utils_camel_case():
    from djframe.utils import from_camel_case, is_camel_case, to_camel_case
    assert is_camel_case("AllGroups") and not is_camel_case("allGroups") and not is_camel_case("All_Groups")
    assert from_camel_case("AllGroups") == "all_groups" and to_camel_case("all_groups") == "AllGroups"
    with pytest.raises(dj.DataJointError):
        from_camel_case("repNames")


def test_storage_path_helpers():
    from djframe.storage import build_object_path, generate_token
    path, token = build_object_path("s", "T", "f", {"subject": 1, "id": 2}, ".dat", "{subject}", schema_prefix="_schema")
    assert path == f"_schema/subject=1/s/T/id=2/f_{token}.dat" and len(token) == 8
    path, token = build_object_path("s", "T", "f", {"id": 2}, None, token_length=30, schema_prefix="")
    assert path == f"s/T/id=2/f_{token}" and len(token) == 16
    assert len(generate_token(2)) == 4


def test_fetched_classes_are_the_imported_ones(conn, schema, tmp_path):
    from djframe.builtin_codecs import NpyRef
    from djframe.objectref import ObjectRef
    with dj.config.override(stores={"default": "main", "main": {"protocol": "file", "location": str(tmp_path)}}):
        @schema
        class Holder(dj.Manual):
            definition = """
            holder_id : int32
            ---
            arr : <npy@>
            obj : <object@>
            """
        Holder.insert1({"holder_id": 1, "arr": np.arange(4), "obj": b"data"})
        row = Holder.fetch1()
        assert isinstance(row["arr"], NpyRef) and isinstance(row["obj"], ObjectRef)


def test_lineage_functions(conn, schema):
    from djframe.lineage import (delete_table_lineages, get_lineage, get_schema_lineages, get_table_lineages,
                                 insert_lineages, lineage_table_exists)

    @schema
    class Parent(dj.Manual):
        definition = """
        parent_id : int32
        """

    @schema
    class Child(dj.Manual):
        definition = """
        -> Parent
        child_id : int32
        """
    db = schema.database
    assert lineage_table_exists(conn, db)
    assert get_table_lineages(conn, db, "child") == {"parent_id": f"{db}.parent.parent_id",
                                                     "child_id": f"{db}.child.child_id"}
    assert get_schema_lineages(conn, db)[f"{db}.child.parent_id"] == f"{db}.parent.parent_id"
    delete_table_lineages(conn, db, "child")
    assert get_lineage(conn, db, "child", "parent_id") is None
    assert Child.heading["parent_id"].lineage is None  # the heading is read again
    insert_lineages(conn, db, [("child", "parent_id", "x.y.z")])
    assert get_table_lineages(conn, db, "child") == {"parent_id": "x.y.z"}
    assert Child.heading["parent_id"].lineage == "x.y.z"


def test_heading_members_of_the_reference(conn, schema, tmp_path):
    """`Heading.as_dtype`, `Attribute.numeric` and the other flags user code reads."""
    with dj.config.override(stores={"default": "main", "main": {"protocol": "file", "location": str(tmp_path)}}):
        @schema
        class Typed(dj.Manual):
            definition = """
            typed_id : int32
            name : varchar(16)
            ---
            ratio : float32
            price : decimal(5,2)
            flag : bool
            uid = null : uuid
            doc = null : json
            blob = null : <blob>
            stored = null : <blob@>
            obj = null : <object@>
            """
        h = Typed.heading
        assert h.as_dtype == np.dtype([("typed_id", "<i8"), ("name", "O"), ("ratio", "<f8"), ("price", "O"),
                                       ("flag", "<i8"), ("uid", "O"), ("doc", "O"), ("blob", "O"),
                                       ("stored", "O"), ("obj", "O")])
        rows = np.array([(1, "a", 0.5, None, 1, None, None, None, None, None)], h.as_dtype)
        assert rows["typed_id"][0] == 1
        numeric = {n for n in h.names if h[n].numeric}
        assert numeric == {"typed_id", "ratio", "price", "flag"}
        assert h["name"].string and h["uid"].uuid and h["doc"].json and h["obj"].json and not h["stored"].json
        assert h.hash_objects == ["stored"] and h.schema_objects == ["obj"]
        assert h["stored"].is_hash_object and not h["blob"].is_hash_object and h["obj"].is_schema_object
        assert not h.has_autoincrement and set(h._attributes) >= set(h.names)
        assert h["typed_id"].todict()["name"] == "typed_id" and h["typed_id"].is_hidden is False
    from djframe.heading import Attribute, default_attribute_properties
    from djframe.types import parse_type
    attr = Attribute(**{**default_attribute_properties, "name": "x", "type": parse_type("int16")})
    assert attr.numeric and attr.dtype is np.int64 and not attr.in_key

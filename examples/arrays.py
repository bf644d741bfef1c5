"""Arrays and files next to their metadata, on the embedded SQLite default and a local object store.

Recordings as in-table blobs, images as Zarr arrays in the store, a computed step
that reads them, the results as Polars, a lazy slice of a stored image, the
pipeline as a Mermaid diagram, and a self-contained Parquet export. Run it from
any folder; it writes ./djframe_arrays.sqlite, ./djframe_store/ and ./djframe_export/.
"""

from pathlib import Path

import numpy as np

import djframe as dj

Path("djframe_store").mkdir(exist_ok=True)
dj.config["database.path"] = "djframe_arrays.sqlite"
dj.config["stores"] = {"default": "local", "local": {"protocol": "file", "location": "djframe_store"}}

schema = dj.Schema("imaging")


@schema
class Scan(dj.Manual):
    definition = """
    scan_id : uint16
    ---
    trace : <blob>            # a 1-D recording, stored in the table
    image : <object@>         # a 2-D image, written to the store as a Zarr array
    """


@schema
class ScanStats(dj.Computed):
    definition = """
    -> Scan
    ---
    trace_mean : float64
    bright_pixels : uint32
    """

    def make(self, key):
        trace, image = (Scan & key).fetch1("trace", "image")
        pixels = np.asarray(image)  # reads (and checks) the stored Zarr chunks
        self.insert1({**key, "trace_mean": float(trace.mean()), "bright_pixels": int((pixels > 0.9).sum())})


rng = np.random.default_rng(0)
Scan.insert([{"scan_id": i, "trace": rng.normal(i, 1, 1000), "image": rng.random((64, 64))} for i in range(4)],
            skip_duplicates=True)
ScanStats.populate(display_progress=True)

traces = Scan.proj("trace").to_polars()
print(traces.schema)  # equal-shape arrays arrive as one fixed-size array column
print((Scan * ScanStats).proj("trace_mean", "bright_pixels").to_polars())

lazy = (Scan & {"scan_id": 2}).fetch1("image").zarr()  # opens the array without reading it
print("top-left corner of scan 2:", np.round(lazy[:2, :3], 3).tolist())

print(dj.Diagram(schema).make_mermaid())

manifest = dj.export(schema, "djframe_export", overwrite=True)
print(f"exported {len(manifest['tables'])} tables and {len(manifest['objects'])} stored files to ./djframe_export")

"""The examples run as a new user runs them: in a fresh folder, on the embedded default."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name, expected", [
    ("quickstart.py", "42.0"),
    ("arrays.py", "exported 2 tables and 8 stored files"),
    ("stale.py", "n_spikes of recording 2: 200"),
])
def test_example_runs_twice_in_a_fresh_folder(name, expected, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}  # the embedded default
    for _ in range(2):  # a second run finds its data and adds nothing twice
        done = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert expected in done.stdout
    if name == "arrays.py":
        import djframe as dj
        from djframe.connection import Connection, make_backend
        settings = {"backend": "sqlite", "path": str(tmp_path / "djframe_arrays.sqlite")}
        conn = Connection.over(make_backend(settings), settings)
        try:
            with dj.config.override(stores={"default": "local", "local": {
                    "protocol": "file", "location": str(tmp_path / "djframe_store")}}):
                report = dj.gc.GarbageCollector(dj.Schema("imaging", connection=conn)).collect(dry_run=True)
            assert report["schema_paths_orphaned"] == 0  # the second run wrote no objects for skipped rows
        finally:
            conn.close()

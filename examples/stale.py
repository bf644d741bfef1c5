"""Which results are stale? Preview the plan, recompute only those (embedded SQLite, a temporary folder)."""

import tempfile
from pathlib import Path

import djframe as dj

folder = Path(tempfile.mkdtemp(prefix="djframe_stale_"))
dj.config["database.backend"] = "sqlite"
dj.config["database.path"] = str(folder / "stale.sqlite")
dj.config["safemode"] = False  # the example answers its own prompts; keep it on in real work
schema = dj.Schema("ephys")


@schema
class Recording(dj.Manual):
    definition = """
    recording_id : uint16
    ---
    threshold : float64
    """


@schema
class Spikes(dj.Computed):
    definition = """
    -> Recording
    ---
    n_spikes : uint32
    """
    version = "1"  # bump when make() changes meaning; without it, a hash of the code is the version

    def make(self, key):
        threshold = (Recording & key).fetch1("threshold")
        self.insert1(dict(key, n_spikes=int(1000 / threshold)))


Recording.insert([{"recording_id": i, "threshold": 10.0 * i} for i in (1, 2, 3)])
Spikes.populate()
print("stale after populate:", len(Spikes.stale()))

Recording.update1({"recording_id": 2, "threshold": 5.0})  # an upstream row changes
print(Spikes.stale().to_polars())                        # recording 2, reason upstream:Recording
print(dj.plan(schema))                                   # per table: missing, stale, to recompute
Spikes.populate(stale=True)                               # delete and remake only recording 2
print("n_spikes of recording 2:", (Spikes & {"recording_id": 2}).fetch1("n_spikes"))
print("stale now:", len(Spikes.stale()))

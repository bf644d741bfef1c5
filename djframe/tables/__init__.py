"""The user's table classes and their verbs: Table and the tiers, Schema, alter, populate with its job
queue, executor and version records (stale), Diagram, and dj.Instance. Thin verbs over query/, write/
and graph/."""

"""The write path, one module per stage: rows -> Arrow validated against the heading (conform) ->
codecs (encode) -> provenance -> the backend's bulk ingest in one transaction (insert); a refused
write explained (explain); objects written in place before their row (staged)."""

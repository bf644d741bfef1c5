"""The read path: expressions (expression, universal, conditions) build immutable nodes (nodes,
headings); compile renders one SELECT per dialect; fetch streams Arrow parts into frames (fetch,
frames, display)."""

"""The foreign-key graph (dependencies), the one restriction-propagation engine (restrict),
cascading delete and drop (delete), and drawing a diagram's model (render)."""

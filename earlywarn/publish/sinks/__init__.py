"""Optional places a published run is also written to (files stay the source of truth)."""

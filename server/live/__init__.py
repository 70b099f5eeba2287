"""Live updates: change-log rows turned into events and fanned out to open streams."""

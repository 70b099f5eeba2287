"""What every domain shares: inputs, access, background loops, timing, metrics, the base schemas."""

"""The audit trail: who did what to which job, device or person."""

"""Offline sync: batches of mutations decided by the conflict table, receipts."""

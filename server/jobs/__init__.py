"""Jobs: the feed (who sees what), the detail, the state machine and every job write."""

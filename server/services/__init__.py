"""Domain rules and transaction boundaries, as plain async functions testable without HTTP."""

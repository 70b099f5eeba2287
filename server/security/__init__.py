"""Credentials: password hashes, signed tokens and cursors, and the login throttle."""

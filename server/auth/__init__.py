"""Sign-in, tokens, devices and their sessions, passwords, the login throttle, offline keys."""

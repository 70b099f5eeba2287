"""Processes on one machine: app instances, the reference nginx edge, and the local cluster
(``python -m server.cluster``, ``make cluster``) built from them. Tests and benchmarks start,
wait for and stop servers through ``processes``; nothing here is imported by the app itself."""

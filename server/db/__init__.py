"""Storage: Piccolo tables, the engine chosen by settings, and every query (in ``queries/``)."""

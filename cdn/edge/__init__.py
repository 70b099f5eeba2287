"""The reference edge configuration (nginx) and its renderer: ``python -m cdn.edge``."""
